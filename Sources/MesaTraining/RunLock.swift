import Foundation
import MesaTensor

/// An exclusive OS lock (`flock`) on a run directory's `.lock` file, held while a process trains
/// there: a second `mesa train` (or a `--resume`) on the same directory is refused at once
/// instead of interleaving its config.json and checkpoint with the first. The kernel drops the
/// lock when the process ends however it ends, so kill -9 leaves no stale lock behind.
public final class RunLock {
    private let fd: Int32

    /// Creates the directory if needed and takes the lock, or throws `TrainingError.locked`.
    public init(_ dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(".lock").path
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MesaIOError.cannotWrite(path, "cannot open the lock file: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let why = errno
            close(fd)
            if why == EWOULDBLOCK { throw TrainingError.locked(dir.path) }
            throw MesaIOError.cannotWrite(path, "cannot lock: \(String(cString: strerror(why)))")
        }
    }

    deinit { close(fd) }
}
