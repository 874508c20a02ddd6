import Foundation
import Synchronization

/// Compiled regular expressions by pattern. Detectors, triggers and scripted profiles match
/// the same few patterns thousands of times; compiling one costs more than matching it.
/// NSRegularExpression is immutable once made, so one instance serves every thread.
public enum RegexCache {
    private static let cache = Mutex<[String: NSRegularExpression]>([:])

    /// The compiled pattern, or nil if it is not a valid regular expression.
    public static func regex(_ pattern: String) -> NSRegularExpression? {
        if let found = cache.withLock({ $0[pattern] }) { return found }
        guard let compiled = try? NSRegularExpression(pattern: pattern) else { return nil }
        cache.withLock { cache in
            if cache.count >= 512 { cache.removeAll() }  // patterns come from files; a bound keeps a flood harmless
            cache[pattern] = compiled
        }
        return compiled
    }

    /// Whether `pattern` matches somewhere in `text`.
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let regex = regex(pattern) else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
