import AdaptiveInference
import ArgumentParser
import Contention
import CostModel
import Foundation
import LLaVAModel
import ProfileStore
import Simulation
import TensorKernels
import Validation

/// `adallava`: is your adaptive LLaVA going to meet its latency budget on this CPU?
struct Adallava: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adallava",
        abstract: "Measure, model and validate the latency of adaptive LLaVA inference on this CPU.",
        discussion: """
        adallava runs the real LLaVA-1.5 architecture (CLIP vision tower, projector, LLaMA \
        decoder) on the CPU through OpenBLAS, from a Hugging Face checkpoint directory or a \
        built-in preset (\(Preset.names.joined(separator: ", "))) with deterministic synthetic \
        weights. Nothing is downloaded.

        Errors in user input (files, configs, tensors, tokens) are printed as one line on \
        standard error and exit with status 2.
        """,
        subcommands: [Run.self, Plan.self, Calibrate.self, Tokenize.self, Preprocess.self, Bench.self,
                      Device.self, Profile.self, Export.self, Fit.self, Predict.self, Trace.self, Stress.self,
                      Replay.self, Validate.self]
    )
}

/// Entry point: every user error becomes `error: …` on stderr and exit status 2.
@main
enum Main {
    static func main() {
        if let problem = PrefillKernel.environmentProblem { fail(problem) }
        MemoryReuse.keepFreedMemory()
        do {
            var command = try Adallava.parseAsRoot()
            try command.run()
        } catch let error as LLaVAModelError {
            fail("\(error)")
        } catch let error as AdaptiveError {
            fail("\(error)")
        } catch let error as CostModelError {
            fail("\(error)")
        } catch let error as ProfileStoreError {
            fail("\(error)")
        } catch let error as ContentionError {
            fail("\(error)")
        } catch let error as CLIError {
            fail(error.message)
        } catch let error as SimulationError {
            fail("\(error)")
        } catch let error as ValidateError {
            fail("\(error)")
        } catch let code as ExitCode where code != .validationFailure {
            // A verb's own status (validate: 0 pass, 1 fail, 2 undecided), after its output.
            exit(code.rawValue)
        } catch {
            // Help and version requests exit 0 through ArgumentParser; usage errors exit 2.
            if Adallava.exitCode(for: error) == .success { Adallava.exit(withError: error) }
            var message = Adallava.fullMessage(for: error)
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            fail(message)
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(2)
    }
}

/// A CLI-level error with a message ready to print.
struct CLIError: Error {
    let message: String
}
