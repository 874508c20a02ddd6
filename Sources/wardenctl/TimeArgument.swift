import Foundation
import WardenScenario

/// Times and ages on the command line. A time is a UTC date (`2026-11-29`) or an RFC 3339
/// instant (`2026-11-29T18:00:00Z`); an age (`30d`, `12h`, `45m`, `90s`, `2w`) counts back
/// from now. Anything else is an error naming the forms, never a filter that matches nothing.
enum TimeArgument {
    static let forms = "a date (2026-11-29), an instant (2026-11-29T18:00:00Z) or an age (30d, 12h, 45m, 90s, 2w)"

    /// The seconds an age stands for (`30d` → 2592000), or nil if `text` is not an age.
    static func seconds(ofAge text: String) -> Int64? {
        guard let unit = text.last, let count = Int64(text.dropLast()), count >= 0 else { return nil }
        let scale: Int64
        switch unit {
        case "s": scale = 1
        case "m": scale = 60
        case "h": scale = 3600
        case "d": scale = 86_400
        case "w": scale = 604_800
        default: return nil
        }
        let (product, overflow) = count.multipliedReportingOverflow(by: scale)
        return overflow ? nil : product
    }

    /// `text` as the audit log's filters take it: a date or instant as given, an age as the
    /// instant it reaches back to. Exits 65 naming the flag and the accepted forms otherwise.
    static func filterValue(_ text: String, flag: String, now: Date = Date()) throws -> String {
        if let seconds = seconds(ofAge: text) {
            return WorldTime.format(now.addingTimeInterval(-Double(seconds)))
        }
        guard WorldTime.parse(text) != nil else { throw badValue("\(flag) \(text): not a time; write \(forms)") }
        return text
    }
}
