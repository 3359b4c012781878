import Foundation
import Testing
import MesaTasks
import MesaTraining

@Suite struct TaskConfigTests {
    /// Tasks 2–4 are one `--set task.kind=…` away from every preset, and make valid runs.
    @Test func everyTaskKindIsSelectableFromEveryPreset() throws {
        for name in Presets.names {
            let base = try Presets.config(name)
            for kind in TaskConfig.kinds {
                let c = try base.setting("task.kind", to: kind)
                try c.validate()
                let task = try c.task.makeTask(seed: c.seed)
                let a = task.batch(size: 2, length: 5, seed: 1, purpose: .trainingBatch, step: 3)
                let b = task.batch(size: 2, length: 5, seed: 1, purpose: .trainingBatch, step: 3)
                #expect(a.inputs.doubles == b.inputs.doubles && a.inputs.shape == [2, 5, c.task.dimension])
            }
        }
        let c = try Presets.config("linear-2")
        #expect(try c.setting("task.partial.hidden", to: "20").task.partial.hidden == 20)
        #expect(try c.setting("task.nonlinear.inputGain", to: "2").task.nonlinear.inputGain == 2)
        #expect(try c.setting("task.contracting.eigenvalueLow", to: "0.5").task.contracting.eigenvalueLow == 0.5)
        #expect(try c.task.makeTask(seed: 0) is LinearDynamicalSystem)
        #expect(try c.setting("task.kind", to: "lds-partial").task.makeTask(seed: 0) is PartiallyObservedLDS)
        #expect(try c.setting("task.kind", to: "lds-nonlinear").task.makeTask(seed: 0) is NonlinearLDS)
        #expect(try c.setting("task.kind", to: "lds-contracting").task.makeTask(seed: 0) is ContractingLDS)
    }

    @Test func outOfRangeParametersAreRefusedByName() {
        let cases: [(String, (inout TaskConfig) -> Void, String)] = [
            ("lds-partial", { $0.partial.hidden = 4; $0.dimension = 5 }, "task.partial.hidden"),
            ("lds-partial", { $0.partial.observationStd = 0 }, "task.partial.observationStd"),
            ("lds-partial", { $0.partial.observationNoise = -1 }, "task.partial.observationNoise"),
            ("lds-partial", { $0.partial.lsqWindow = 0 }, "task.partial.lsqWindow"),
            ("lds-nonlinear", { $0.nonlinear.width = 0 }, "task.nonlinear.width"),
            ("lds-nonlinear", { $0.nonlinear.inputGain = -1 }, "task.nonlinear.inputGain"),
            ("lds-contracting", { $0.contracting.eigenvalueHigh = 1 }, "task.contracting.eigenvalueHigh"),
            ("lds-contracting", { $0.contracting.eigenvalueLow = 0.95 }, "task.contracting.eigenvalueLow"),
            ("lds-contracting", { $0.contracting.clip = 0 }, "task.contracting.clip"),
        ]
        for (kind, edit, field) in cases {
            var t = TaskConfig(kind: kind)
            #expect((try? t.makeTask(seed: 0)) != nil)  // the unedited configuration is fine
            edit(&t)
            do {
                _ = try t.makeTask(seed: 0)
                Issue.record("accepted a bad \(field)")
            } catch {
                #expect("\(error)".contains(field), "message '\(error)' does not name \(field)")
            }
        }
    }

    /// config.json written before tasks 2–4 existed still loads, with their defaults.
    @Test func olderConfigurationsLoad() throws {
        let old = #"{"kind":"lds","dimension":10,"noise":0.01,"stateClip":10}"#
        let t = try JSONDecoder().decode(TaskConfig.self, from: Data(old.utf8))
        #expect(t == TaskConfig())
    }
}
