import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// What a language model trains on (SPEC §7): the mean next-byte cross-entropy in nats
/// (`softmaxCrossEntropy`) over every position of a batch, or those of its loss mask.
public final class NextByteObjective: TrainingObjective {
    public let model: LanguageModel
    public var parameters: [NamedParameter] { model.parameters }

    public init(model: LanguageModel) { self.model = model }

    public func loss(on batch: SequenceBatch) -> Variable {
        let logits = model.logits(TextBatches.ids(batch.inputs), batch: batch.batchSize, length: batch.length)
        return softmaxCrossEntropy(logits, targets: TextBatches.ids(batch.targets), weights: batch.lossMask?.doubles)
    }

    public var stateTensors: [String: Tensor] { model.stateTensors }

    public func load(_ tensors: [String: Tensor]) throws { try model.load(tensors) }

    /// The mesa-layers' λ must stay positive and finite.
    public func checkParameters(step: Int) throws {
        for (l, block) in model.body.blocks.enumerated() {
            for (description, variable) in block.attention.describedHeadParameters {
                for (h, v) in variable.value.doubles.enumerated() where !description.valid(v) {
                    throw TrainingError.diverged(
                        step: step, what: "layer \(l + 1) (\(block.attention.kind)), head \(h + 1): \(description.name) = \(v), which must stay \(description.requirement)")
                }
            }
        }
    }
}
