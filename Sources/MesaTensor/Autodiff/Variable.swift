import Foundation

/// Thread-local flag behind `Variable.withoutGradients` (non-nil: gradients off).
private let noGradientKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// A node of the reverse-mode graph: a value, the nodes it was computed from, and a
/// pullback mapping dL/d(value) to dL/d(each input) (micrograd's shape, at tensor
/// granularity). Leaves with `requiresGrad` are the parameters; they outlive the graph,
/// which is rebuilt on every forward pass and freed when the loss goes out of scope.
public final class Variable {
    public internal(set) var value: Tensor
    /// dL/d(value) after `backward()`, for leaves that require it.
    public var grad: Tensor?
    public private(set) var requiresGrad: Bool
    let inputs: [Variable]
    let pullback: ((Tensor) -> [Tensor?])?

    /// A leaf: a parameter when `requiresGrad`, a constant input otherwise.
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.inputs = []
        self.pullback = nil
    }

    /// The result of an operation. The pullback is kept only when an input needs a gradient
    /// and gradients are enabled.
    public init(_ value: Tensor, inputs: [Variable], pullback: @escaping (Tensor) -> [Tensor?]) {
        self.value = value
        let needs = Variable.gradientsEnabled && inputs.contains { $0.requiresGrad }
        self.requiresGrad = needs
        self.inputs = needs ? inputs : []
        self.pullback = needs ? pullback : nil
    }

    /// Freezes a parameter (no gradient, nothing back-propagated to it) or unfreezes it.
    /// For leaves only; a graph already built keeps what it recorded.
    public func setRequiresGrad(_ on: Bool) {
        precondition(inputs.isEmpty && pullback == nil, "setRequiresGrad is for leaves (parameters)")
        requiresGrad = on
        if !on { grad = nil }
    }

    /// False inside `withoutGradients` on this thread: operations record nothing.
    public static var gradientsEnabled: Bool { pthread_getspecific(noGradientKey) == nil }

    /// Runs `body` without recording the graph on the calling thread (evaluation, analysis):
    /// forward passes keep no pullbacks or saved activations. Other threads, e.g. another
    /// model training at the same time, are unaffected.
    public static func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(noGradientKey)
        pthread_setspecific(noGradientKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(noGradientKey, previous) }
        return try body()
    }

    public var shape: [Int] { value.shape }
    public var dtype: DType { value.dtype }

    /// Replaces a leaf's value (the optimizer's update; no graph may still hold the old one).
    public func assign(_ newValue: Tensor) {
        precondition(inputs.isEmpty, "assign is for leaves (parameters)")
        precondition(newValue.shape == value.shape && newValue.dtype == value.dtype,
                     "assign: \(newValue.shape)/\(newValue.dtype) into \(value.shape)/\(value.dtype)")
        value = newValue
    }

    /// Mutates a leaf's value in place (the optimizer's update without a copy).
    public func update<R>(_ body: (inout Tensor) throws -> R) rethrows -> R {
        precondition(inputs.isEmpty, "update is for leaves (parameters)")
        return try body(&value)
    }

    /// Back-propagates from this node. `seed` is dL/d(self); for a scalar loss it defaults
    /// to 1. Gradients accumulate into `grad` of every leaf that requires one; interior
    /// nodes drop theirs once passed on.
    /// With `leaves`, the leaves' gradients go there instead of into their `grad` (and nothing
    /// shared is written): several graphs built from the same parameters, e.g. the micro-batches
    /// of one training step, can then run their backward passes at the same time.
    public func backward(seed: Tensor? = nil, leaves: LeafGradients? = nil) {
        guard requiresGrad else { return }
        let seed = seed ?? {
            precondition(value.count == 1, "backward() without a seed needs a scalar, got shape \(shape)")
            return Tensor(shape: value.shape, repeating: 1, dtype: value.dtype)
        }()
        precondition(seed.shape == value.shape, "backward seed \(seed.shape) vs value \(value.shape)")
        let order = topologicalOrder()
        for node in order where !node.inputs.isEmpty { node.grad = nil }
        accumulate(seed)
        for node in order.reversed() {
            guard let pullback = node.pullback, let g = node.grad else { continue }
            let grads = pullback(g)
            for (input, gi) in zip(node.inputs, grads) where input.requiresGrad {
                guard let gi else { continue }
                if let leaves, input.pullback == nil { leaves.accumulate(gi, for: input) } else { input.accumulate(gi) }
            }
            node.grad = nil
        }
    }

    func accumulate(_ g: Tensor) {
        precondition(g.shape == value.shape, "gradient \(g.shape) for a value of shape \(value.shape)")
        if grad == nil { grad = g } else { grad!.addScaled(g) }
    }

    /// Nodes reachable from self, each after all of its inputs (iterative DFS).
    func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if !visited.insert(ObjectIdentifier(node)).inserted { continue }
            stack.append((node, true))
            for input in node.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        return order
    }
}

/// The leaf gradients of one backward pass, kept apart from the leaves' `grad`
/// (`Variable.backward(leaves:)`). For one graph on one thread at a time.
public final class LeafGradients {
    private var gradients: [ObjectIdentifier: Tensor] = [:]

    public init() {}

    func accumulate(_ g: Tensor, for leaf: Variable) {
        precondition(g.shape == leaf.value.shape, "gradient \(g.shape) for a value of shape \(leaf.value.shape)")
        let key = ObjectIdentifier(leaf)
        if gradients[key] == nil { gradients[key] = g } else { gradients[key]!.addScaled(g) }
    }

    /// dL/d`leaf` of the pass, nil when nothing reached it.
    public subscript(leaf: Variable) -> Tensor? { gradients[ObjectIdentifier(leaf)] }

    /// Adds these gradients to the `grad` of each of `leaves` they reach, as `backward()` would
    /// have: `grad` = g when it was nil, else `grad` + g.
    public func add(to leaves: [Variable]) {
        for leaf in leaves { if let g = self[leaf] { leaf.accumulate(g) } }
    }
}
