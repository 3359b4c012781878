import Foundation

/// One matrix of a heat-map figure: row-major values of a rows × cols matrix (square or not:
/// [ZH]'s W^{PV} is d × 2d), and the CSV file it is written to beside the figure.
public struct HeatmapPanel {
    public var title: String
    public var values: [Double]
    public var rows: Int, cols: Int
    public var csv: URL

    public init(title: String, values: [Double], rows: Int, cols: Int, csv: URL) {
        self.title = title
        self.values = values
        self.rows = rows
        self.cols = cols
        self.csv = csv
    }
}

extension Figures {
    /// A grid of heat maps, `layout.rows` × `layout.cols` panels, each on its own symmetric
    /// blue–white–red scale (white is 0, so the sign pattern of the Prop. 1 blocks shows), with
    /// lines between the `block`-wide blocks of the tokens (n for constructed tokens, d for [ZH]'s
    /// e_t = [x_t; x_{t−1}]). Every matrix is written as CSV (gnuplot's `matrix` format) whether or
    /// not gnuplot is there: the numbers are the result, the picture is a view of them, drawn
    /// when gnuplot can like every figure here.
    public static func heatmaps(_ panels: [HeatmapPanel], layout: (rows: Int, cols: Int), block: Int?, title: String,
                                panelSize: (width: Int, height: Int) = (420, 380), to base: URL) throws {
        var body = """
        set palette defined (-1 '#2166ac', 0 'white', 1 '#b2182b')
        set size ratio -1
        unset key
        set tics font ',8'
        set multiplot layout \(layout.rows),\(layout.cols) title '\(title)'

        """
        for p in panels {
            guard p.values.count == p.rows * p.cols else {
                throw FigureError.badMatrix(p.csv.path, "\(p.values.count) values for \(p.rows) × \(p.cols)")
            }
            try CSV.writeMatrix(p.values, rows: p.rows, cols: p.cols, to: p.csv)
            let scale = max(p.values.map(abs).max() ?? 0, 1e-12)
            var lines = "unset arrow\n"
            if let n = block, n > 0 {
                for k in stride(from: n, to: p.cols, by: n) {
                    lines += "set arrow from \(Double(k) - 0.5),-0.5 to \(Double(k) - 0.5),\(Double(p.rows) - 0.5) nohead lc rgb 'gray40' front\n"
                }
                for k in stride(from: n, to: p.rows, by: n) {
                    lines += "set arrow from -0.5,\(Double(k) - 0.5) to \(Double(p.cols) - 0.5),\(Double(k) - 0.5) nohead lc rgb 'gray40' front\n"
                }
            }
            body += """
            \(lines)set title '\(p.title)' font ',9'
            set cbrange [\(-scale):\(scale)]
            set xrange [-0.5:\(Double(p.cols) - 0.5)]
            set yrange [\(Double(p.rows) - 0.5):-0.5]
            plot '\(p.csv.path)' matrix with image

            """
        }
        body += "unset multiplot\n"
        try? render(body, to: base, size: (panelSize.width * layout.cols, panelSize.height * layout.rows + 40))
    }
}
