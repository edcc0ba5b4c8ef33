import Foundation
import Testing
@testable import Validation

@Suite("adherence statistics: exact one-sided binomial bounds and early stopping")
struct AdherenceTests {
    @Test("at 99% target and 99% confidence, 0 misses need 459 requests: 459 passes, 458 does not")
    func zeroMisses() {
        #expect(Adherence.requestsToPass(misses: 0, target: 0.99, confidence: 0.99) == 459)
        #expect(Adherence(met: 459, total: 459).verdict == .pass)
        #expect(Adherence(met: 458, total: 458).verdict == .undecided)
        #expect(Adherence(met: 458, total: 458).lowerBound < 0.99)
    }

    @Test("3 misses need 1001 requests; at exactly 1000 the bound is 0.98999, a hair short of 0.99")
    func threeMisses() {
        #expect(Adherence.requestsToPass(misses: 3, target: 0.99, confidence: 0.99) == 1001)
        let at1000 = Adherence(met: 997, total: 1000)
        #expect(at1000.lowerBound < 0.99 && at1000.lowerBound > 0.98998)
        #expect(at1000.verdict == .undecided)
        #expect(Adherence(met: 998, total: 1001).verdict == .pass)
    }

    @Test("the early-stopping table for 1 and 2 misses")
    func oneAndTwoMisses() {
        #expect(Adherence.requestsToPass(misses: 1, target: 0.99, confidence: 0.99) == 662)
        #expect(Adherence.requestsToPass(misses: 2, target: 0.99, confidence: 0.99) == 838)
    }

    @Test("200 requests with no miss can claim ≥ 97.7% with 99% confidence, and cannot decide a 99% target")
    func twoHundred() {
        let a = Adherence(met: 200, total: 200)
        #expect(abs(a.lowerBound - 0.977237) < 1e-6)
        #expect(a.claim == "≥ 97.7% with 99% confidence")
        #expect(a.verdict == .undecided)
        #expect(a.verdict.exitCode == 2)
        #expect(a.summary.contains("459"))
    }

    @Test("with no miss the bound is the closed form (1 − c)^(1/n)", arguments: [1, 7, 100, 459, 5000])
    func closedForm(n: Int) {
        let a = Adherence(met: n, total: n, confidence: 0.95)
        #expect(abs(a.lowerBound - pow(0.05, 1 / Double(n))) < 1e-9)
    }

    @Test("a run that clearly misses fails: 950 of 1000 at a 99% target", arguments: [(950, 1000), (0, 10), (180, 200)])
    func fails(met: Int, total: Int) {
        let a = Adherence(met: met, total: total)
        #expect(a.upperBound < 0.99)
        #expect(a.verdict == .fail)
        #expect(a.verdict.exitCode == 1)
    }

    @Test("bounds bracket the observed share and tighten with more requests")
    func bracketing() {
        for (met, total) in [(5, 10), (97, 100), (990, 1000), (9900, 10000)] {
            let a = Adherence(met: met, total: total)
            #expect(a.lowerBound <= a.metShare && a.metShare <= a.upperBound)
        }
        #expect(Adherence(met: 990, total: 1000).lowerBound < Adherence(met: 9900, total: 10000).lowerBound)
    }

    @Test("an empty run is undecided, never a pass")
    func empty() {
        #expect(Adherence(met: 0, total: 0).verdict == .undecided)
    }

    @Test("the claim rounds down, so 0.99 exactly reads 99.0% and 0.98999 reads 98.9%")
    func roundingDown() {
        #expect(Adherence.percentDown(0.99) == "99.0%")
        #expect(Adherence.percentDown(0.989999) == "98.9%")
    }
}
