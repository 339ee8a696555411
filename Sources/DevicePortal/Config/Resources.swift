import Foundation
import Vapor

/// Where the portal's `Templates/` and `Public/` are. Resolved once at start-up, so that the
/// same executable serves its pages whatever folder it is started from: `PORTAL_RESOURCES` when
/// set (and then only there), else the working directory, else the folder holding the
/// executable (where the release archive puts them).
public struct PortalResources: Sendable, Equatable {
    /// A folder that was looked in, and why.
    public struct Candidate: Sendable, Equatable {
        public enum Origin: Sendable, Equatable {
            case setting, workingDirectory, executableDirectory
        }
        /// An absolute path ending in `/`.
        public let directory: String
        public let origin: Origin

        var described: String {
            switch origin {
            case .setting: "\(directory) (PORTAL_RESOURCES)"
            case .workingDirectory: "\(directory) (the working directory)"
            case .executableDirectory: "\(directory) (beside the executable)"
            }
        }
    }

    /// The folder that holds both, or `nil` when none of `searched` does.
    public let chosen: Candidate?
    /// Every folder looked in, in order.
    public let searched: [Candidate]

    public var directory: String? { chosen?.directory }

    /// Every file a page or the API needs: a folder missing any of them is not used, and
    /// `serve` refuses to start without them, so no page answers 500 for a missing template.
    public static let requiredFiles = [
        "Templates/layout.leaf", "Templates/error.leaf", "Templates/login.leaf",
        "Templates/device/enter.leaf", "Templates/device/confirm.leaf", "Templates/device/approved.leaf",
        "Templates/device/denied.leaf", "Templates/settings/devices.leaf", "Templates/organizations/members.leaf",
        "Templates/organizations/roles.leaf", "Templates/organizations/settings.leaf",
        "Templates/organizations/audit.leaf", "Templates/invitations/show.leaf", "Public/css/portal.css",
        "Public/openapi.json",
        "Templates/mail/new-device.text.leaf", "Templates/mail/new-device.html.leaf",
        "Templates/mail/invitation.text.leaf", "Templates/mail/invitation.html.leaf",
    ]

    /// The pure decision: the first candidate `holdsResources` accepts. A `PORTAL_RESOURCES`
    /// that is set is the only candidate: an operator who names a folder must not be served
    /// another one by surprise. Relative paths are taken from the working directory.
    public static func choose(
        setting: String?,
        workingDirectory: String,
        executableDirectory: String?,
        holdsResources: (String) -> Bool
    ) -> PortalResources {
        let cwd = folder(workingDirectory, relativeTo: "/")
        var searched: [Candidate] = []
        if let setting, !setting.isEmpty {
            searched = [Candidate(directory: folder(setting, relativeTo: cwd), origin: .setting)]
        } else {
            searched.append(Candidate(directory: cwd, origin: .workingDirectory))
            if let executableDirectory {
                let beside = Candidate(
                    directory: folder(executableDirectory, relativeTo: cwd),
                    origin: .executableDirectory
                )
                if beside.directory != cwd { searched.append(beside) }
            }
        }
        return PortalResources(chosen: searched.first { holdsResources($0.directory) }, searched: searched)
    }

    /// `choose` over the real file system, the process's working directory and executable.
    public static func locate(setting: String?) -> PortalResources {
        choose(
            setting: setting,
            workingDirectory: FileManager.default.currentDirectoryPath,
            executableDirectory: executableDirectory(),
            holdsResources: { missingFiles(in: $0).isEmpty }
        )
    }

    /// The required files that are absent or unreadable in `directory` (which ends in `/`).
    public static func missingFiles(in directory: String) -> [String] {
        requiredFiles.filter { !FileManager.default.isReadableFile(atPath: directory + $0) }
    }

    /// Checks, before a server starts, that the folders it will serve from hold every required file.
    static func verify(templates: String, publicFiles: String, resolved: PortalResources?) throws {
        let missing = requiredFiles.filter { file in
            let path =
                file.hasPrefix("Templates/")
                ? templates + file.dropFirst("Templates/".count) : publicFiles + file.dropFirst("Public/".count)
            return !FileManager.default.isReadableFile(atPath: path)
        }
        guard !missing.isEmpty else { return }
        throw ResourcesMissingError(
            searched: resolved?.searched ?? [],
            missing: missing,
            templates: templates,
            publicFiles: publicFiles
        )
    }

    /// The folder holding the running executable, symbolic links resolved (an `/usr/local/bin/portal`
    /// link to `/opt/portal/portal` means `/opt/portal/`).
    static func executableDirectory() -> String? {
        #if os(Linux)
            if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
                return URL(fileURLWithPath: path).deletingLastPathComponent().path
            }
        #endif
        return Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent().path
    }

    /// An absolute, standardized path ending in `/`.
    private static func folder(_ path: String, relativeTo base: String) -> String {
        let absolute = path.hasPrefix("/") ? path : base + path
        let standard = URL(fileURLWithPath: absolute).standardized.path
        return standard.hasSuffix("/") ? standard : standard + "/"
    }
}

/// `serve` or `demo` found no folder with the templates and static files; the message says
/// where it looked and names `PORTAL_RESOURCES`.
struct ResourcesMissingError: Error, CustomStringConvertible {
    let searched: [PortalResources.Candidate]
    let missing: [String]
    let templates: String
    let publicFiles: String

    var description: String {
        let looked =
            searched.isEmpty
            ? "\(templates) and \(publicFiles)" : searched.map(\.described).joined(separator: ", ")
        let shown = missing.prefix(3).joined(separator: ", ") + (missing.count > 3 ? ", …" : "")
        return
            "Cannot find the portal's Templates/ and Public/ folders (looked in \(looked); missing or unreadable: "
            + "\(shown)). Set PORTAL_RESOURCES to the folder that holds both (in the release archive, the "
            + "folder of the portal executable), or start the portal from that folder."
    }
}

extension Application {
    /// Points the views and static files at the resolved folder (`nil`: the `Templates/` and
    /// `Public/` of `directory` as the caller set it, as the tests do) and, for the commands that
    /// serve pages, stops start-up unless every required file is there.
    func useResources(_ resources: PortalResources?) throws {
        if let chosen = resources?.chosen {
            directory.viewsDirectory = chosen.directory + "Templates/"
            directory.publicDirectory = chosen.directory + "Public/"
        } else {
            directory.viewsDirectory = directory.workingDirectory + "Templates/"
        }
        guard ["serve", "demo"].contains(commandName), !environment.arguments.contains("--help") else { return }
        if let resources, resources.chosen == nil {
            // Nothing found: never fall back to whatever the working directory holds.
            let first = resources.searched.first?.directory ?? directory.workingDirectory
            throw ResourcesMissingError(
                searched: resources.searched,
                missing: PortalResources.missingFiles(in: first),
                templates: first + "Templates/",
                publicFiles: first + "Public/"
            )
        }
        try PortalResources.verify(
            templates: directory.viewsDirectory,
            publicFiles: directory.publicDirectory,
            resolved: resources
        )
        if let chosen = resources?.chosen { logger.info("Templates and static files from \(chosen.described)") }
    }
}
