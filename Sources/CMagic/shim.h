// libmagic, the system library behind file(1): Debian's libmagic-dev.
#include <magic.h>
