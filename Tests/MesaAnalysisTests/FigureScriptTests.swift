import Foundation
import Testing
import MesaAnalysis

/// A figure's NAME.gp names its outputs and its CSV files relative to its own folder, so a
/// results folder that is moved or copied can be redrawn with `gnuplot NAME.gp` inside it.
@Suite struct FigureScriptTests {
    @Test func pathsAreRelativeToTheScriptsFolder() {
        let folder = URL(fileURLWithPath: "/r/F1/figures")
        let cases = [("/r/F1/figures/a.csv", "a.csv"), ("/r/F1/figures/sub/b.csv", "sub/b.csv"),
                     ("/r/F1/c.csv", "../c.csv"), ("/r/F2/x/d.csv", "../../F2/x/d.csv"), ("/e.csv", "../../../e.csv")]
        for (file, expected) in cases {
            #expect(Figures.relativePath(of: URL(fileURLWithPath: file), from: folder) == expected, "\(file)")
        }
        let body = "plot '/r/F1/figures/a.csv' using 1:2 title 'loss', '/r/F1/c.csv' matrix with image"
        #expect(Figures.relativized(body, to: folder) == "plot 'a.csv' using 1:2 title 'loss', '../c.csv' matrix with image")
        #expect(Figures.relativized("set title 'no paths'", to: folder) == "set title 'no paths'")
    }

    @Test func aMovedFolderRedraws() throws {
        guard let gnuplot = Figures.gnuplot else { return }  // scripts/test.sh installs it; the CSV path is tested above
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("mesa-figure-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("curve.csv")
        try "t,loss\n1,0.5\n2,0.25\n3,0.125\n".write(to: csv, atomically: true, encoding: .utf8)
        try Figures.lines(csv: csv, series: [(1, "loss")], title: "moved", xlabel: "t", ylabel: "loss",
                          to: dir.appendingPathComponent("curve"))
        let script = try String(contentsOf: dir.appendingPathComponent("curve.gp"), encoding: .utf8)
        #expect(!script.contains(dir.path), "the script still names its folder:\n\(script)")
        #expect(script.contains("'curve.csv'") && script.contains("'curve.png'") && script.contains("'curve.svg'"))

        let moved = fm.temporaryDirectory.appendingPathComponent("mesa-figure-moved-\(UUID().uuidString)")
        try fm.moveItem(at: dir, to: moved)
        defer { try? fm.removeItem(at: moved) }
        for ext in ["png", "svg"] { try fm.removeItem(at: moved.appendingPathComponent("curve.\(ext)")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: gnuplot)
        process.arguments = ["curve.gp"]
        process.currentDirectoryURL = moved
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        for ext in ["png", "svg"] {
            let size = (try fm.attributesOfItem(atPath: moved.appendingPathComponent("curve.\(ext)").path)[.size] as? Int) ?? 0
            #expect(size > 1000, "curve.\(ext) redrawn in the moved folder: \(size) bytes")
        }
    }
}
