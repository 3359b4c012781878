import Foundation

/// Figures drawn by gnuplot (Debian's gnuplot-nox; `scripts/setup.sh` installs it): each
/// figure is written as NAME.png and NAME.svg, with its gnuplot script NAME.gp and the CSV
/// it plots beside it, so a figure can be restyled or re-plotted elsewhere.
public enum Figures {
    public enum FigureError: Error, CustomStringConvertible {
        case gnuplotMissing
        case gnuplotFailed(String, String)
        case badMatrix(String, String)
        public var description: String {
            switch self {
            case .gnuplotMissing:
                return "gnuplot is not installed (run scripts/setup.sh, or apt-get install gnuplot-nox); the CSV files are written"
            case let .gnuplotFailed(script, why): return "gnuplot failed on \(script): \(why)"
            case let .badMatrix(csv, why): return "cannot draw \(csv): \(why)"
            }
        }
    }

    /// The gnuplot executable, if any.
    public static let gnuplot: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/gnuplot"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }()

    /// Renders `body` (plot commands, without terminal/output lines) to base.png and base.svg.
    /// The script base.gp names its outputs and every file it reads ('/…' in `body`) relative to
    /// its own folder and gnuplot runs there, so a results folder can be moved or copied and
    /// `gnuplot NAME.gp` run inside it redraws the figure.
    public static func render(_ body: String, to base: URL, size: (Int, Int) = (900, 600)) throws {
        let folder = base.deletingLastPathComponent().standardizedFileURL
        let body = relativized(body, to: folder)
        let name = base.lastPathComponent
        // The body runs once per terminal (replot cannot repeat a multiplot).
        let script = """
        set datafile separator ','
        set terminal pngcairo size \(size.0),\(size.1) enhanced font 'DejaVu Sans,11'
        set output '\(quoted(name)).png'
        \(body)
        unset output
        reset
        set datafile separator ','
        set terminal svg size \(size.0),\(size.1) enhanced font 'DejaVu Sans,11' background rgb 'white'
        set output '\(quoted(name)).svg'
        \(body)
        unset output
        """
        let scriptURL = base.appendingPathExtension("gp")
        try script.write(to: scriptURL, atomically: true, encoding: .utf8)
        guard let gnuplot else { throw FigureError.gnuplotMissing }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: gnuplot)
        process.arguments = [scriptURL.lastPathComponent]
        process.currentDirectoryURL = folder
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw FigureError.gnuplotFailed(scriptURL.path, message) }
    }

    /// A file name inside gnuplot's single quotes (a quote is written twice).
    static func quoted(_ s: String) -> String { s.replacingOccurrences(of: "'", with: "''") }

    /// `body` with every single-quoted absolute path ('/…') replaced by the path relative to `folder`
    /// ("name.csv", "sub/name.csv", "../other/name.csv").
    public static func relativized(_ body: String, to folder: URL) -> String {
        var out = "", rest = Substring(body)
        while let open = rest.range(of: "'/") {
            out += rest[..<open.lowerBound]
            let afterQuote = rest.index(after: open.lowerBound)
            guard let close = rest[afterQuote...].firstIndex(of: "'") else { rest = rest[open.lowerBound...]; break }
            let path = String(rest[afterQuote..<close])
            out += "'" + relativePath(of: URL(fileURLWithPath: path).standardizedFileURL, from: folder) + "'"
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// The path of `file` as seen from the folder `folder` (both absolute).
    public static func relativePath(of file: URL, from folder: URL) -> String {
        let f = file.pathComponents, d = folder.pathComponents
        var common = 0
        while common < min(f.count - 1, d.count) && f[common] == d[common] { common += 1 }
        let ups = Array(repeating: "..", count: d.count - common)
        return (ups + f[common...]).joined(separator: "/")
    }

    /// Line plot of columns of a CSV (header row) against its first column.
    public static func lines(csv: URL, series: [(column: Int, title: String)], title: String, xlabel: String,
                             ylabel: String, logY: Bool = false, to base: URL) throws {
        let plots = series.map { s in
            "'\(csv.path)' using 1:\(s.column + 1) with linespoints pt 7 ps 0.5 lw 2 title '\(s.title)'"
        }.joined(separator: ", \\\n     ")
        try render("""
        set key autotitle columnhead
        set title '\(title)'
        set xlabel '\(xlabel)'
        set ylabel '\(ylabel)'
        set key top right
        set grid
        \(logY ? "set logscale y" : "")
        plot \(plots)
        """, to: base)
    }

    /// Attention maps (non-negative, rows sum to one) side by side: query position down,
    /// key position across.
    public static func attentionMaps(_ panels: [(title: String, csv: URL, size: Int)], title: String, to base: URL) throws {
        var body = """
        set palette defined (0 'white', 0.5 '#6baed6', 1 '#08306b')
        set size ratio -1
        unset key
        set tics font ',8'
        set xlabel "key position t'" font ',9'
        set ylabel 'query position t' font ',9'
        set cbrange [0:*]
        set multiplot layout 1,\(panels.count) title '\(title)'

        """
        for p in panels {
            body += """
            set title '\(p.title)' font ',10'
            set xrange [-0.5:\(Double(p.size) - 0.5)]
            set yrange [\(Double(p.size) - 0.5):-0.5]
            plot '\(p.csv.path)' matrix with image

            """
        }
        body += "unset multiplot\n"
        try render(body, to: base, size: (380 * panels.count, 420))
    }
}
