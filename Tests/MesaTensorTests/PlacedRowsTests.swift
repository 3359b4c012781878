import Testing
import MesaTensor

/// `addingRows`, the op that writes prompt tuning's learned tokens into the model's input.
@Suite struct PlacedRowsTests {
    let placements = [RowPlacement(position: 0, row: 1, column: 0), RowPlacement(position: 2, row: 0, column: 3),
                      RowPlacement(position: 2, row: 0, column: 0), RowPlacement(position: 3, row: 0, column: 4)]

    /// The value as the definition reads, on every element.
    @Test func valueIsBasePlusPlacedRows() {
        let base = randomTensor([2, 4, 7], seed: 21), rows = randomTensor([2, 3], seed: 22)
        let y = addingRows(Variable(base), Variable(rows), at: placements).value.doubles
        var expected = base.doubles
        let r = rows.doubles
        for b in 0..<2 {
            for p in placements { for i in 0..<3 { expected[(b * 4 + p.position) * 7 + p.column + i] += r[p.row * 3 + i] } }
        }
        #expect(y == expected)
        // A position nothing is placed at is the base's own.
        #expect(Array(y[7..<14]) == Array(base.doubles[7..<14]))
    }

    /// Backward against central differences in Double; a row used three times gets three sums.
    @Test func gradientMatchesFiniteDifferences() {
        let base = randomTensor([2, 4, 7], seed: 23), rows = randomTensor([2, 3], seed: 24)
        let r = GradCheck.projection(for: [2, 4, 7])
        let errors = GradCheck.relativeErrors([base, rows]) { v in dot(addingRows(v[0], v[1], at: placements), r) }
        for (i, e) in errors.enumerated() { #expect(e < 1e-7, "input \(i): relative error \(e)") }
    }
}
