import Glibc
import Testing
@testable import WardenCore

@Suite struct KernelFileTests {
    /// procfs files report size 0; they are read to their end all the same.
    @Test func readsProcFilesThatReportNoSize() throws {
        var info = stat()
        #expect(stat("/proc/self/status", &info) == 0 && info.st_size == 0)
        let status = try #require(KernelFile.text("/proc/self/status"))
        #expect(status.contains("Pid:\t\(getpid())\n"))
        #expect(status.hasSuffix("\n"))
    }

    @Test func readsLongFilesWhole() throws {
        // /proc/self/maps of a Swift test process is far longer than one 4 KiB chunk.
        let maps = try #require(KernelFile.bytes("/proc/self/maps"))
        #expect(maps.count > 16_384)
        #expect(KernelFile.bytes("/proc/self/maps", limit: 4096)?.count == 4096)
    }

    @Test func aMissingFileIsNil() {
        #expect(KernelFile.text("/proc/self/no-such-file") == nil)
        #expect(KernelFile.text("/proc/self") == nil)  // a directory: read fails with EISDIR
    }
}
