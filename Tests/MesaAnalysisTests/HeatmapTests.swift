import Foundation
import Testing
import MesaAnalysis

@Suite struct HeatmapTests {
    /// [ZH]'s W^{PV} is d × 2d: a non-square panel is written row by row, and a panel whose values do
    /// not fill rows × cols is refused with its file named, before anything is drawn.
    @Test func nonSquareMatricesAreWrittenRowByRow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mesa-test-\(UUID().uuidString)")
        let wide = HeatmapPanel(title: "2 × 3", values: [1, -2, 3, 4, 5, -6], rows: 2, cols: 3,
                                csv: dir.appendingPathComponent("wide.csv"))
        try Figures.heatmaps([wide], layout: (1, 1), block: 2, title: "test", to: dir.appendingPathComponent("wide"))
        #expect(try String(contentsOf: wide.csv, encoding: .utf8) == "1.0,-2.0,3.0\n4.0,5.0,-6.0\n")
        var short = wide
        short.csv = dir.appendingPathComponent("short.csv")
        short.values.removeLast()
        do {
            try Figures.heatmaps([short], layout: (1, 1), block: nil, title: "test", to: dir.appendingPathComponent("short"))
            Issue.record("drew 5 values as a 2 × 3 matrix")
        } catch {
            #expect("\(error)".contains("short.csv") && "\(error)".contains("5 values for 2 × 3"))
        }
        #expect(!FileManager.default.fileExists(atPath: short.csv.path))
    }
}
