//! Opening the files dcconn is named on its command line (the connection, a secret, the
//! component) only when they are regular files (a secret may come from a pipe too): a FIFO blocks its reader until a writer comes,
//! a device such as `/dev/zero` never ends, and a folder is no file at all.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading (a symbolic link is followed) when it is a regular file; anything
/// else is refused with an [`io::ErrorKind::InvalidInput`] error that says what it is. Opening
/// never blocks, a FIFO without a writer included.
pub fn open(path: &Path) -> io::Result<File> {
    // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer. It has no effect on
    // reading a regular file.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let file_type = file.metadata()?.file_type();
    if file_type.is_file() {
        return Ok(file);
    }
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
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}; only a regular file is read"),
    ))
}

/// Opens the file of `--set-file` for reading: a regular file, or a pipe (`/dev/stdin`, a
/// shell's `<(pass show dc)`, a FIFO a secrets agent writes), whose reader waits for its writer
/// as `cat` would; a folder, a device or a socket is refused as [`open`] refuses it.
pub fn open_secret(path: &Path) -> io::Result<File> {
    let file_type = std::fs::metadata(path)?.file_type();
    if file_type.is_fifo() {
        return File::open(path);
    }
    open(path)
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
    fn a_secret_may_come_from_a_pipe_but_not_from_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "s3cret\n").unwrap())
        };
        let mut read = String::new();
        io::Read::read_to_string(&mut open_secret(&fifo).unwrap(), &mut read).unwrap();
        writer.join().unwrap();
        assert_eq!(read, "s3cret\n");
        let error = open_secret(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "it is a character device; only a regular file is read"
        );
    }
}
