import Foundation
import Testing
import MesaExperiments

/// The registry and the checks every finding makes before it trains or writes anything.
@Suite struct FindingTests {
    @Test func anEmptySeedListIsRefusedBeforeAnythingIsWritten() throws {
        for finding in Findings.all {
            let out = temporaryDirectory("results")
            let options = ReproductionOptions(outputRoot: out, seeds: [], progress: false)
            do {
                _ = try finding.run(options)
                Issue.record("\(finding.name) ran with no seeds")
            } catch let e as ReproductionError {
                #expect("\(e)".contains("seed list is empty") && "\(e)".contains(finding.name), "\(e)")
            }
            #expect(!FileManager.default.fileExists(atPath: out.path), "\(finding.name) wrote \(out.path)")
        }
    }

    @Test func unknownProfilesAndRepeatedSeedsAreRefused() throws {
        let f1 = try Findings.named("f1")
        #expect(f1.name == "F1")
        #expect(throws: ReproductionError.self) { try f1.seeds(for: ReproductionOptions(profile: "slow")) }
        #expect(throws: ReproductionError.self) { try f1.seeds(for: ReproductionOptions(seeds: [3, 1, 3])) }
        #expect(try f1.seeds(for: ReproductionOptions(seeds: [3, 1])) == [3, 1])
        #expect(try f1.seeds(for: ReproductionOptions(profile: "paper")) == [0, 1, 2, 3, 4])
        #expect(throws: ReproductionError.self) { try Findings.named("F77") }
    }

    /// F9 compares runs on one training set: a second seed is refused before anything runs.
    @Test func f9RunsOneSeedAtATime() throws {
        let out = temporaryDirectory("results")
        do {
            _ = try FindingF9().run(ReproductionOptions(outputRoot: out, seeds: [0, 1], progress: false))
            Issue.record("F9 ran two seeds")
        } catch let e as ReproductionError {
            #expect("\(e)".contains("at most 1 seed"))
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func theCatalogueListsEveryFindingOnce() {
        #expect(Set(Findings.names).count == Findings.all.count)
        for f in Findings.all {
            #expect(Findings.catalogue.contains("\(f.name)  \(f.claim)"))
            #expect(!f.profiles.isEmpty && f.profiles.allSatisfy { !f.defaultSeeds(profile: $0).isEmpty })
        }
    }
}

func temporaryDirectory(_ name: String = "run") -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("mesa-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u.appendingPathComponent(name)
}
