/// Interval estimates for verdict rates.
public enum Statistics {
    /// z for a two-sided 95% interval.
    public static let z95 = 1.959963984540054

    /// The Wilson score interval for `k` successes in `n` trials (n = 0 gives [0, 1]).
    public static func wilson(_ k: Int, _ n: Int, z: Double = z95) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let nd = Double(n)
        let p = Double(k) / nd
        let denominator = 1 + z * z / nd
        let center = (p + z * z / (2 * nd)) / denominator
        let half = z * (p * (1 - p) / nd + z * z / (4 * nd * nd)).squareRoot() / denominator
        return (max(0, center - half), min(1, center + half))
    }

    /// Newcombe's hybrid score interval (method 10) for the difference of two independent
    /// proportions k1/n1 − k2/n2, built from the two Wilson intervals.
    public static func newcombe(_ k1: Int, _ n1: Int, _ k2: Int, _ n2: Int, z: Double = z95) -> (difference: Double, low: Double, high: Double) {
        let p1 = n1 > 0 ? Double(k1) / Double(n1) : 0
        let p2 = n2 > 0 ? Double(k2) / Double(n2) : 0
        let (l1, u1) = wilson(k1, n1, z: z)
        let (l2, u2) = wilson(k2, n2, z: z)
        let d = p1 - p2
        let low = d - ((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2)).squareRoot()
        let high = d + ((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2)).squareRoot()
        return (d, max(-1, low), min(1, high))
    }
}
