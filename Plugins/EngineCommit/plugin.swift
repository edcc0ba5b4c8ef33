import Foundation
import PackagePlugin

/// Writes `EngineCommit.swift` (`let builtEngineCommit = "<commit>[-dirty]"`) into the target
/// before every build, so provenance names the commit a binary was *built* from. Asking git
/// when a measurement runs (the previous way) named whatever the source tree held by then: a
/// profile left running while later commits landed recorded them.
///
/// A prebuild command, because the commit can change without any source file changing. The
/// file is replaced only when its text changes, so an unchanged commit recompiles nothing.
/// Without git or a repository (a source archive) the commit is `unknown`.
@main
struct EngineCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "Generated")
        let script = #"""
            src="$1"; out="$2"; mkdir -p "$out"
            head=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null) || head=""
            [ -n "$head" ] || head=unknown
            if [ "$head" != unknown ] && [ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
                head="$head-dirty"
            fi
            printf '// Generated before each build by Plugins/EngineCommit; not in git.\nlet builtEngineCommit = "%s"\n' "$head" > "$out/.EngineCommit.new"
            if cmp -s "$out/.EngineCommit.new" "$out/EngineCommit.swift"; then rm "$out/.EngineCommit.new"
            else mv "$out/.EngineCommit.new" "$out/EngineCommit.swift"; fi
            """#
        return [.prebuildCommand(displayName: "Recording the engine commit",
                                 executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", script, "engine-commit", context.package.directoryURL.path, output.path],
                                 outputFilesDirectory: output)]
    }
}
