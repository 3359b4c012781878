import Foundation
import MesaNN
import MesaTasks
import MesaTensor

/// What a training run minimizes (SPEC §3): a loss of a batch, differentiable in
/// `parameters`. The optimizer updates exactly these; everything else the loss reads stays
/// as it is. The default is the model's next-state prediction error
/// (`NextStatePrediction`); prompt tuning (learned tokens before a frozen model),
/// distillation (one layer fitted to another's outputs) or structured weights are
/// objectives of their own.
public protocol TrainingObjective: AnyObject {
    /// The parameters the optimizer updates, with their checkpoint names.
    var parameters: [NamedParameter] { get }
    /// The loss of a batch (a scalar Variable).
    func loss(on batch: SequenceBatch) -> Variable
    /// What checkpoints save beside the optimizer state (default: the parameters).
    var stateTensors: [String: Tensor] { get }
    /// Restores `stateTensors`; changes nothing when a tensor is missing or misshapen.
    func load(_ tensors: [String: Tensor]) throws
    /// Checks the parameters after an update (e.g. the mesa-layer's λ > 0); names what broke.
    func checkParameters(step: Int) throws
    /// The batch of update `step` when the objective draws its own data (prompt tuning draws
    /// few-shot regression sequences); nil (the default): the configuration's task.
    func trainingBatch(step: Int) -> SequenceBatch?
    /// The fixed held-out batch when the objective draws its own; nil: the configuration's task.
    func heldOutBatch() -> SequenceBatch?
    /// `loss(on: batch).value.item` without gradients, for held-out evaluations; an objective
    /// may run the model on `chunk` sequences at a time if the result has the same bits
    /// (`NextStatePrediction` does). Default: the whole batch at once.
    func heldOutLoss(on batch: SequenceBatch, chunk: Int) -> Double
}

extension TrainingObjective {
    public var stateTensors: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.variable.value) })
    }

    public func load(_ tensors: [String: Tensor]) throws {
        for p in parameters {
            guard let t = tensors[p.name], t.shape == p.variable.shape, t.isFinite else {
                throw ModelError.checkpointMismatch("no finite tensor '\(p.name)' of shape \(p.variable.shape)")
            }
        }
        for p in parameters { p.variable.assign(tensors[p.name]!.converted(to: p.variable.dtype)) }
    }

    public func checkParameters(step: Int) throws {}

    public func trainingBatch(step: Int) -> SequenceBatch? { nil }

    public func heldOutBatch() -> SequenceBatch? { nil }

    public func heldOutLoss(on batch: SequenceBatch, chunk: Int) -> Double {
        Variable.withoutGradients { loss(on: batch).value.item }
    }
}

/// Whether a parameter name matches a shell-style pattern (`*` any run of characters):
/// `layers.1.*`, `*.lambda`, `readout.W`.
public func parameterName(_ name: String, matches pattern: String) -> Bool {
    fnmatch(pattern, name, 0) == 0
}

/// The model predicts s_{t+1} at every position: ½‖ŝ_{t+1} − s_{t+1}‖² averaged over the
/// scored positions (all, or those of the batch's loss mask), minimized over the model's
/// parameters that match `trainable` (all when nil); the others are frozen.
public final class NextStatePrediction: TrainingObjective {
    public let model: Transformer
    public let tokens: TokenConstruction
    public let parameters: [NamedParameter]

    public init(model: Transformer, tokens: TokenConstruction, trainable: [String]? = nil) throws {
        self.model = model
        self.tokens = tokens
        let all = model.parameters
        guard let patterns = trainable else {
            parameters = all
            return
        }
        for pattern in patterns where !all.contains(where: { parameterName($0.name, matches: pattern) }) {
            throw ConfigError.invalid("trainable pattern '\(pattern)' matches no parameter; the model has \(all.map(\.name).joined(separator: ", "))")
        }
        parameters = all.filter { p in patterns.contains { parameterName(p.name, matches: $0) } }
        for p in all where !parameters.contains(where: { $0.name == p.name }) { p.variable.setRequiresGrad(false) }
    }

    public func loss(on batch: SequenceBatch) -> Variable {
        halfSquaredError(model(tokens.tokens(from: batch.inputs)), batch.targets, weights: batch.lossMask)
    }

    /// The whole model (frozen parameters too), so that a checkpoint is a model.
    public var stateTensors: [String: Tensor] { model.stateTensors }

    public func load(_ tensors: [String: Tensor]) throws { try model.load(tensors) }

    /// Every head parameter must keep its requirement (the mesa-layer's λ: positive and finite).
    public func checkParameters(step: Int) throws {
        for (l, block) in model.blocks.enumerated() {
            for (description, variable) in block.attention.describedHeadParameters {
                for (h, v) in variable.value.doubles.enumerated() where !description.valid(v) {
                    throw TrainingError.diverged(
                        step: step, what: "layer \(l + 1) (\(block.attention.kind)), head \(h + 1): \(description.name) = \(v), which must stay \(description.requirement)")
                }
            }
        }
    }
}
