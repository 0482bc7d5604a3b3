/// Aligned columns for listings; every cell stripped of terminal controls (names and paths can
/// come from sandboxes, R13), one line per row, long cells cut at 60 characters.
public enum TextTable {
    public static func render(_ rows: [[String]]) -> String {
        let clean = rows.map { $0.map { String(stripTerminalControls($0).map { $0 == "\n" || $0 == "\t" ? " " : $0 }) } }
        var widths = [Int](repeating: 0, count: clean.first?.count ?? 0)
        for row in clean { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], min(cell.count, 60)) } }
        var out = ""
        for row in clean {
            var line = ""
            for (index, cell) in row.enumerated() {
                let text = cell.count > 60 ? String(cell.prefix(59)) + "…" : cell
                line += index == row.count - 1 ? text : text + String(repeating: " ", count: max(0, widths[index] - text.count) + 2)
            }
            out += line + "\n"
        }
        return out
    }
}
