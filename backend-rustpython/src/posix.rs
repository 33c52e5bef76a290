//! The POSIX calls that CPython's `os` has and RustPython 0.5.0's lacks,
//! and that disk plugins use: `pread`, `pwrite`, `preadv`, `pwritev`,
//! `readv`, `writev`, `fdatasync`, `posix_fallocate`, `posix_fadvise`,
//! and the `RWF_*` flags. Added to `posix` (and to `os`, if already
//! imported) only where missing, with CPython's signatures, results and
//! exceptions (`OSError` with the errno; `EINTR` retried, PEP 475).
//!
//! The vectored calls with more than one buffer do one call per buffer
//! (stopping at a short transfer) rather than one `preadv(2)`: every
//! buffer is borrowed from its object for the duration of its own call
//! only, because two views of one object cannot be borrowed writable at
//! once. For regular files the result is the same.

use std::io;

use rustpython_vm::builtins::PyBytes;
use rustpython_vm::convert::IntoPyException;
use rustpython_vm::function::{ArgBytesLike, ArgMemoryBuffer, OptionalArg};
use rustpython_vm::vm::thread::allow_threads;
use rustpython_vm::{PyObjectRef, PyRef, PyResult, VirtualMachine};

/// Retry `f` on `EINTR`; turn -1 into `OSError`.
fn syscall(vm: &VirtualMachine, mut f: impl FnMut() -> isize) -> PyResult<usize> {
    loop {
        let r = allow_threads(vm, &mut f);
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e.into_pyexception(vm));
        }
    }
}

/// A call returning 0 or an errno (posix_fallocate, posix_fadvise).
fn errno_call(vm: &VirtualMachine, f: impl Fn() -> libc::c_int) -> PyResult<()> {
    loop {
        match allow_threads(vm, &f) {
            0 => return Ok(()),
            libc::EINTR => continue,
            e => return Err(io::Error::from_raw_os_error(e).into_pyexception(vm)),
        }
    }
}

fn pread_into(vm: &VirtualMachine, fd: i32, buf: &mut [u8], offset: i64, flags: i32) -> PyResult<usize> {
    let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: iov describes `buf`, borrowed mutably for the whole call.
    syscall(vm, || unsafe { libc::preadv2(fd, &iov, 1, offset, flags) })
}

fn pwrite_from(vm: &VirtualMachine, fd: i32, buf: &[u8], offset: i64, flags: i32) -> PyResult<usize> {
    let iov = libc::iovec { iov_base: buf.as_ptr().cast_mut().cast(), iov_len: buf.len() };
    // SAFETY: iov describes `buf`, borrowed for the whole call; the
    // kernel only reads from it.
    syscall(vm, || unsafe { libc::pwritev2(fd, &iov, 1, offset, flags) })
}

/// `os.pread(fd, n, offset) -> bytes`
fn pread(fd: i32, n: isize, offset: i64, vm: &VirtualMachine) -> PyResult<PyRef<PyBytes>> {
    let n = usize::try_from(n).map_err(|_| vm.new_value_error("negative buffersize in pread"))?;
    let mut buf = vec![0; n];
    let got = pread_into(vm, fd, &mut buf, offset, 0)?;
    buf.truncate(got);
    Ok(vm.ctx.new_bytes(buf))
}

/// `os.pwrite(fd, data, offset) -> int`
fn pwrite(fd: i32, data: ArgBytesLike, offset: i64, vm: &VirtualMachine) -> PyResult<usize> {
    data.with_ref(|b| pwrite_from(vm, fd, b, offset, 0))
}

/// `os.preadv(fd, buffers, offset, flags=0) -> int`
fn preadv(
    fd: i32,
    buffers: Vec<ArgMemoryBuffer>,
    offset: i64,
    flags: OptionalArg<i32>,
    vm: &VirtualMachine,
) -> PyResult<usize> {
    let flags = flags.unwrap_or(0);
    let mut total = 0;
    for b in &buffers {
        let mut buf = b.borrow_buf_mut();
        let n = pread_into(vm, fd, &mut buf, offset + total as i64, flags)?;
        total += n;
        if n < buf.len() {
            break;
        }
    }
    Ok(total)
}

/// `os.pwritev(fd, buffers, offset, flags=0) -> int`
fn pwritev(
    fd: i32,
    buffers: Vec<ArgBytesLike>,
    offset: i64,
    flags: OptionalArg<i32>,
    vm: &VirtualMachine,
) -> PyResult<usize> {
    let flags = flags.unwrap_or(0);
    let mut total = 0;
    for b in &buffers {
        let (n, len) = b.with_ref(|buf| pwrite_from(vm, fd, buf, offset + total as i64, flags).map(|n| (n, buf.len())))?;
        total += n;
        if n < len {
            break;
        }
    }
    Ok(total)
}

/// `os.readv(fd, buffers) -> int`
fn readv(fd: i32, buffers: Vec<ArgMemoryBuffer>, vm: &VirtualMachine) -> PyResult<usize> {
    let mut total = 0;
    for b in &buffers {
        let mut buf = b.borrow_buf_mut();
        // SAFETY: reading into `buf`, borrowed mutably for the call.
        let n = syscall(vm, || unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })?;
        total += n;
        if n < buf.len() {
            break;
        }
    }
    Ok(total)
}

/// `os.writev(fd, buffers) -> int`
fn writev(fd: i32, buffers: Vec<ArgBytesLike>, vm: &VirtualMachine) -> PyResult<usize> {
    let mut total = 0;
    for b in &buffers {
        // SAFETY: writing from `buf`, borrowed for the call.
        let (n, len) =
            b.with_ref(|buf| syscall(vm, || unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }).map(|n| (n, buf.len())))?;
        total += n;
        if n < len {
            break;
        }
    }
    Ok(total)
}

/// `os.fdatasync(fd)`
fn fdatasync(fd: i32, vm: &VirtualMachine) -> PyResult<()> {
    // SAFETY: fdatasync takes any integer; a bad one is EBADF.
    syscall(vm, || unsafe { libc::fdatasync(fd) } as isize).map(drop)
}

/// `os.posix_fallocate(fd, offset, len)`
fn posix_fallocate(fd: i32, offset: i64, len: i64, vm: &VirtualMachine) -> PyResult<()> {
    // SAFETY: plain integer arguments; errors come back as the result.
    errno_call(vm, || unsafe { libc::posix_fallocate(fd, offset, len) })
}

/// `os.posix_fadvise(fd, offset, len, advice)`
fn posix_fadvise(fd: i32, offset: i64, len: i64, advice: i32, vm: &VirtualMachine) -> PyResult<()> {
    // SAFETY: plain integer arguments; errors come back as the result.
    errno_call(vm, || unsafe { libc::posix_fadvise(fd, offset, len, advice) })
}

/// Add what is missing to `posix`, and to `os` if it is already loaded.
pub(crate) fn install(vm: &VirtualMachine) -> PyResult<()> {
    let functions: [(&'static str, PyObjectRef); 9] = [
        ("pread", vm.new_function("pread", pread).into()),
        ("pwrite", vm.new_function("pwrite", pwrite).into()),
        ("preadv", vm.new_function("preadv", preadv).into()),
        ("pwritev", vm.new_function("pwritev", pwritev).into()),
        ("readv", vm.new_function("readv", readv).into()),
        ("writev", vm.new_function("writev", writev).into()),
        ("fdatasync", vm.new_function("fdatasync", fdatasync).into()),
        ("posix_fallocate", vm.new_function("posix_fallocate", posix_fallocate).into()),
        ("posix_fadvise", vm.new_function("posix_fadvise", posix_fadvise).into()),
    ];
    let constants = [
        ("RWF_HIPRI", libc::RWF_HIPRI),
        ("RWF_DSYNC", libc::RWF_DSYNC),
        ("RWF_SYNC", libc::RWF_SYNC),
        ("RWF_NOWAIT", libc::RWF_NOWAIT),
        ("RWF_APPEND", libc::RWF_APPEND),
    ];
    let modules = vm.sys_module.get_attr("modules", vm)?;
    let mut targets = vec![vm.import("posix", 0)?];
    if let Ok(os) = modules.get_item("os", vm) {
        targets.push(os);
    }
    for module in &targets {
        for (name, f) in &functions {
            if vm.get_attribute_opt(module.clone(), *name)?.is_none() {
                module.set_attr(*name, f.clone(), vm)?;
            }
        }
        for (name, value) in constants {
            if vm.get_attribute_opt(module.clone(), name)?.is_none() {
                module.set_attr(name, vm.ctx.new_int(value), vm)?;
            }
        }
    }
    Ok(())
}
