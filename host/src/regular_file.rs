//! Opening the files dcconn is named on its command line (the connection, a secret, the
//! component) only when they are regular files (a secret may come from an anonymous pipe too):
//! a FIFO blocks its reader until a writer comes, a device such as `/dev/zero` never ends, and a
//! folder is no file at all.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading (a symbolic link is followed) when it is a regular file; anything
/// else is refused with an [`io::ErrorKind::InvalidInput`] error that says what it is. Opening
/// never blocks, a FIFO without a writer included.
pub fn open(path: &Path) -> io::Result<File> {
    let file = open_without_waiting(path)?;
    let file_type = file.metadata()?.file_type();
    if file_type.is_file() {
        return Ok(file);
    }
    Err(refused(file_type))
}

/// Opens the file of `--set-file` for reading: a regular file, or a pipe whose writer exists
/// (`/dev/stdin` fed by a pipe, a shell's `<(pass show dc)`), read as `cat` would. A named pipe
/// (FIFO) is refused, since nothing says a writer will ever come (a cron job would wait
/// forever); so is anything [`open`] refuses.
pub fn open_secret(path: &Path) -> io::Result<File> {
    let file = open_without_waiting(path)?;
    let file_type = file.metadata()?.file_type();
    if file_type.is_file() {
        return Ok(file);
    }
    if !file_type.is_fifo() {
        return Err(refused(file_type));
    }
    if !is_anonymous_pipe(&file) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a named pipe (FIFO), which would wait for a writer that may never come; give a regular file, or pipe the secret in (--set-file NAME=/dev/stdin)",
        ));
    }
    blocking(&file)?;
    Ok(file)
}

/// `path` opened for reading with `O_NONBLOCK`: opening a FIFO for reading otherwise waits for
/// a writer. It has no effect on reading a regular file.
fn open_without_waiting(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// The refusal of a file of `file_type`, which is not a regular file: what it is.
fn refused(file_type: std::fs::FileType) -> io::Error {
    let what = if file_type.is_dir() {
        "a folder"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}; only a regular file is read"),
    )
}

/// Whether `file` is an anonymous pipe (`pipe:[...]` in `/proc/self/fd`): one a shell made, whose
/// writer was there when this process started.
fn is_anonymous_pipe(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .is_ok_and(|target| target.to_string_lossy().starts_with("pipe:"))
}

/// Clears `O_NONBLOCK`, so that reading waits for the writer's data.
fn blocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(open(&file).is_ok());
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        for (path, what) in [
            (fifo.as_path(), "a FIFO (named pipe)"),
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a folder"),
        ] {
            let error = open(path).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
            assert_eq!(
                error.to_string(),
                format!("it is {what}; only a regular file is read")
            );
        }
        assert_eq!(
            open(&dir.path().join("none")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_secret_may_come_from_a_pipe_but_not_from_a_named_one_or_a_device() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let writer = std::thread::spawn(move || {
            // SAFETY: the write end is this thread's alone from here on.
            let mut writer = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
            io::Write::write_all(&mut writer, b"s3cret\n").unwrap();
        });
        let path = format!("/proc/self/fd/{}", fds[0]);
        let mut read = String::new();
        io::Read::read_to_string(&mut open_secret(Path::new(&path)).unwrap(), &mut read).unwrap();
        writer.join().unwrap();
        assert_eq!(read, "s3cret\n");
        // SAFETY: the read end is no longer used.
        unsafe { libc::close(fds[0]) };

        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let error = open_secret(&fifo).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(
            error.to_string().starts_with("it is a named pipe (FIFO)"),
            "{error}"
        );
        let error = open_secret(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "it is a character device; only a regular file is read"
        );
    }
}
