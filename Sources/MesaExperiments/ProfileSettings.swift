import MesaTraining

/// What a report says about its profile's settings: a quick profile may train faster than the
/// paper, but its report names every setting that differs, so a reader can tell a result from
/// an artefact of its budget.
enum ProfileSettings {
    /// A Markdown paragraph: "Settings as the paper's profile." or the list of differing fields
    /// (seed aside), each as `field`: paper → used.
    static func differences(used: TrainConfig, paper: TrainConfig) -> String {
        let lines = ConfigJSON.differences(paper, used, ignoring: ["seed"])
        guard !lines.isEmpty else { return "Every training setting is the paper profile's (SPEC §3 schedule and reference architecture)." }
        return "Settings that differ from the paper profile (paper → this profile):\n\n"
            + lines.map { "- `" + $0.replacingOccurrences(of: ": ", with: "`: ") }.joined(separator: "\n")
    }
}
