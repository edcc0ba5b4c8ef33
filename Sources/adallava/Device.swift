import ArgumentParser
import Foundation
import Profiling

/// `adallava device`: this machine's fingerprint, the identity every profile is stored under.
struct Device: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Print this machine's device fingerprint and its stable device id.",
        discussion: """
        The fingerprint records what decides latency: CPU model, logical cores, SIMD flags, \
        cache sizes (from /sys/devices/system/cpu/cpu0/cache), memory, kernel, the BLAS library \
        with its build description and thread setting, the Swift compiler version the engine \
        was built with, the build configuration and the engine's git commit.

        The device id is '<cpu-slug>-<cores>c-<hash>', where the hash covers the hardware \
        only (CPU model, cores, SIMD flags, caches, memory in GiB): every machine of the same \
        kind gets the same id, whatever its kernel, BLAS build or engine commit. Profiles are \
        stored and exported under that id (profiles/<id>/).

        EXAMPLES
          adallava device
          adallava device --json
        """
    )

    @OptionGroup var output: OutputOptions

    func run() throws {
        let device = DeviceFingerprint.current()
        if output.json {
            print(try jsonString(device))
        } else {
            let width = device.rows.map(\.0.count).max() ?? 0
            for (key, value) in device.rows { print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)") }
        }
    }
}
