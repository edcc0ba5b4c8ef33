import Foundation
import Testing

@Suite("device, profile and export, run as a user would", .serialized)
struct ProfileCLITests {
    @Test("device --json prints the fingerprint with a stable id; the table shows the same id")
    func device() throws {
        let r = try CLI.run(["device", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let id = try #require(json["id"] as? String)
        for key in ["cpu_model", "cores", "simd", "caches", "memory_bytes", "kernel", "blas_name", "blas_threads",
                    "swift_version", "build", "engine_commit"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let table = try CLI.run(["device"])
        #expect(table.status == 0)
        #expect(table.stdout.contains(id))
    }
}
