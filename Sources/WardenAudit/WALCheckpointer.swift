import Dispatch
import GRDB
import GRDBSQLite
import Logging
import Synchronization

/// Copies the write-ahead log into the database file on a thread of its own.
///
/// SQLite's default is for the connection that commits to checkpoint, inside that commit, once
/// the WAL holds 1,000 pages: for the audit log that is the single writer every append waits
/// on, and the checkpoints (reading frames back, writing pages, syncing the database file)
/// would run on its path. SQLite lets another connection checkpoint while the
/// writer goes on (`PASSIVE`: it copies what is committed and waits for no one), so the writer
/// only notes, after each commit, how long the WAL has grown, and asks this thread to copy it.
///
/// A passive checkpoint running beside a busy writer never quite catches up, and the WAL starts
/// again from its beginning only once it has been copied whole; so when it passes
/// `writerLimit` pages the writer checkpoints itself, as SQLite would, finding nearly all of
/// it copied already. Durability does not change: a commit is on disk when its WAL frames are
/// synced, before any checkpoint.
final class WALCheckpointer: Sendable {
    let path: String
    /// Ask for a background checkpoint every this many new WAL pages.
    let backgroundEvery: Int32
    /// Past this many pages in the WAL the writer checkpoints itself.
    let writerLimit: Int32
    private let queue = DispatchQueue(label: "warden.audit.wal-checkpoint", qos: .utility)
    /// The WAL's length when a background checkpoint was last asked for, and whether one is
    /// asked for and not yet done. Written by the writer's commit hook and the checkpoint thread.
    private let state = Mutex<(askedAt: Int32, pending: Bool)>((0, false))
    /// The checkpoint thread's own connection, opened on first use.
    private let connection = Mutex<DatabaseQueue?>(nil)
    private let logger = Logger(label: "warden.audit")

    init(path: String, backgroundEvery: Int32 = 1000, writerLimit: Int32 = 8000) {
        self.path = path
        self.backgroundEvery = backgroundEvery
        self.writerLimit = writerLimit
    }

    /// Replaces SQLite's automatic checkpoint on the writer connection `db` with this one. The
    /// checkpointer must outlive the connection's commits (the audit log holds both).
    func install(on db: Database) {
        guard let handle = db.sqliteConnection else { return }
        let hook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = { context, db, name, pages in
            guard let context else { return SQLITE_OK }
            Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(db, name, pages: pages)
            return SQLITE_OK
        }
        sqlite3_wal_hook(handle, hook, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Called by SQLite on the writer's thread after each commit, with the WAL's length in pages.
    private func committed(_ db: OpaquePointer?, _ name: UnsafePointer<CChar>?, pages: Int32) {
        if pages >= writerLimit {
            // What SQLite's own hook does at its (lower) limit; errors are SQLite's to retry.
            _ = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            state.withLock { $0.askedAt = 0 }
            return
        }
        let ask = state.withLock { state -> Bool in
            if pages < state.askedAt { state.askedAt = 0 }  // the WAL started again from its beginning
            guard !state.pending, pages - state.askedAt >= backgroundEvery else { return false }
            state.askedAt = pages
            state.pending = true
            return true
        }
        if ask { queue.async { self.checkpointInBackground() } }
    }

    private func checkpointInBackground() {
        defer { state.withLock { $0.pending = false } }
        do {
            let database = try connection.withLock { connection -> DatabaseQueue in
                if let connection { return connection }
                let opened = try DatabaseQueue(path: path)
                connection = opened
                return opened
            }
            _ = try database.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        } catch {
            // The writer's own checkpoint at `writerLimit` still bounds the WAL.
            logger.debug("background WAL checkpoint of \(path) failed: \(error)")
        }
    }

    /// Waits for a background checkpoint in progress, and closes the thread's connection (so a
    /// final truncating checkpoint finds no other connection at work).
    func stop() {
        queue.sync {}
        connection.withLock { $0 = nil }
    }
}
