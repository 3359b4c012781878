import Foundation

/// Configurations compared and checked as JSON trees: a field is named by its dotted path
/// ("schedule.peak"), the way `--set` and config.json name it. Works for any Codable
/// configuration, so a new field needs no code here.
public enum ConfigJSON {
    /// Decodes `data`, refusing fields the type does not know: a misspelt field in a hand-edited
    /// config.json would otherwise be dropped without a word and its default used instead.
    public static func decodeStrictly<T: Codable>(_ type: T.Type, from data: Data) throws -> T {
        let value = try JSONDecoder().decode(T.self, from: data)
        let given = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        let known = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value), options: [.fragmentsAllowed])
        let unknown = unknownFields(given, known: known, path: "")
        guard unknown.isEmpty else {
            throw ConfigError.invalid("unknown field\(unknown.count > 1 ? "s" : "") \(unknown.joined(separator: ", "))")
        }
        return value
    }

    /// Dotted paths present in `given` but not in `known` (a re-encoding of what was decoded).
    /// An explicit null is accepted where the field is optional and so absent from `known`.
    static func unknownFields(_ given: Any, known: Any, path: String) -> [String] {
        if let g = given as? [String: Any] {
            let k = known as? [String: Any] ?? [:]
            return g.keys.sorted().flatMap { key -> [String] in
                let sub = path.isEmpty ? key : "\(path).\(key)"
                guard let kv = k[key] else { return g[key] is NSNull ? [] : [sub] }
                return unknownFields(g[key]!, known: kv, path: sub)
            }
        }
        if let g = given as? [Any], let k = known as? [Any] {
            return zip(g, k).enumerated().flatMap { item in
                unknownFields(item.element.0, known: item.element.1, path: "\(path)[\(item.offset)]")
            }
        }
        return []
    }

    /// The leaves of a value's JSON, by dotted path ("optimizer.beta1" → "0.9").
    public static func leaves<T: Encodable>(_ value: T) -> [String: String] {
        guard let data = try? JSONEncoder().encode(value),
              let tree = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return [:] }
        var out: [String: String] = [:]
        func walk(_ node: Any, _ path: String) {
            if let d = node as? [String: Any] {
                for (k, v) in d { walk(v, path.isEmpty ? k : "\(path).\(k)") }
            } else if let a = node as? [Any], a.contains(where: { $0 is [String: Any] }) {
                for (i, v) in a.enumerated() { walk(v, "\(path)[\(i)]") }
            } else if let a = node as? [Any] {
                out[path] = "[" + a.map { "\($0)" }.joined(separator: ", ") + "]"
            } else {
                out[path] = "\(node)"
            }
        }
        walk(tree, "")
        return out
    }

    /// One line per field where `a` and `b` differ: "seed: 0 → 3" (a field absent from one side
    /// shows as "–"), sorted by path; `ignoring` lists paths left out.
    public static func differences<T: Encodable>(_ a: T, _ b: T, ignoring: Set<String> = []) -> [String] {
        let la = leaves(a), lb = leaves(b)
        return Set(la.keys).union(lb.keys).subtracting(ignoring).sorted().compactMap { path in
            la[path] == lb[path] ? nil : "\(path): \(la[path] ?? "–") → \(lb[path] ?? "–")"
        }
    }
}
