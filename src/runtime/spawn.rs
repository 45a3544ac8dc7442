//! Starting the workers: listeners bound in the main thread (so a busy
//! port or a bad address is one clear error before anything runs, and an
//! ephemeral port is the same for every worker), then one pinned thread
//! per worker that builds its own backend (io_uring rings must be created
//! by the thread that submits to them: SINGLE_ISSUER).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use super::listen::{bind_reuseport, enable_fastopen};
use super::worker::{self, WorkerShared};
use super::{Listener, ListenerKind, Waker};

/// How the workers should run.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    pub workers: usize,
    pub tls_addrs: Vec<SocketAddr>,
    pub h2c_addrs: Vec<SocketAddr>,
    pub redirect_addrs: Vec<SocketAddr>,
    /// Pin worker i to the i-th CPU the process may use.
    pub pin_workers: bool,
    pub sqpoll: bool,
    pub sqpoll_idle_ms: u32,
}

/// A start-up failure, one line for the operator.
#[derive(Debug)]
pub enum StartError {
    AddressInUse(SocketAddr),
    Bind(SocketAddr, io::Error),
    Backend(io::Error),
    Thread(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AddressInUse(a) => write!(f, "cannot listen on {a}: the address is already in use"),
            Self::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            Self::Backend(e) => write!(f, "{e}"),
            Self::Thread(e) => write!(f, "cannot start a worker thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The running server.
pub struct Running {
    pub tls_addrs: Vec<SocketAddr>,
    pub h2c_addrs: Vec<SocketAddr>,
    pub redirect_addrs: Vec<SocketAddr>,
    pub backend: &'static str,
    /// "on", "off", or "off (fallback: …)" for the start-up line.
    pub sqpoll: String,
    shared: Arc<WorkerShared>,
    wakers: Vec<Arc<Waker>>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

/// Binds `addr` once per worker. A fixed port is first probed without
/// SO_REUSEPORT: with it, a second server of the same user would silently
/// share the port instead of failing.
fn bind_all(addr: SocketAddr, workers: usize) -> Result<Vec<TcpListener>, StartError> {
    if addr.port() != 0 {
        match TcpListener::bind(addr) {
            Ok(probe) => drop(probe),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(StartError::AddressInUse(addr)),
            Err(e) => return Err(StartError::Bind(addr, e)),
        }
    }
    let first = bind_reuseport(addr).map_err(|e| StartError::Bind(addr, e))?;
    let actual = first.local_addr().map_err(|e| StartError::Bind(addr, e))?;
    let mut all = vec![first];
    for _ in 1..workers {
        all.push(bind_reuseport(actual).map_err(|e| StartError::Bind(actual, e))?);
    }
    Ok(all)
}

/// The CPUs this process may run on (its affinity mask, as set by
/// `taskset`, systemd's `CPUAffinity=` or a container's cpuset), in
/// order; empty if the mask cannot be read.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a live cpu_set_t of
    // the size we pass, which the kernel fills in.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads one bit of the live `set`; every index is
    // below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect()
}

/// Pins the calling thread to one CPU, so each worker keeps its caches
/// and its ring's memory local. Failure only costs locality.
fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit inside `set`, and the index is taken
    // modulo CPU_SETSIZE so it stays in bounds.
    unsafe { libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a live cpu_set_t of
    // the size we pass.
    let _ = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

/// What a worker thread reports once its backend is up.
struct Ready {
    sqpoll: String,
    #[cfg_attr(feature = "epoll", allow(dead_code))]
    ring_fd: Option<i32>,
    backend: &'static str,
}

pub fn start(opts: &RuntimeOptions, shared: Arc<WorkerShared>) -> Result<Running, StartError> {
    let workers = opts.workers.max(1);
    let mut per_worker: Vec<Vec<Listener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut tls_addrs = Vec::new();
    let mut h2c_addrs = Vec::new();
    let mut redirect_addrs = Vec::new();
    for (addrs, kind, actual) in [
        (&opts.tls_addrs, ListenerKind::Tls, &mut tls_addrs),
        (&opts.h2c_addrs, ListenerKind::H2c, &mut h2c_addrs),
        (&opts.redirect_addrs, ListenerKind::Redirect, &mut redirect_addrs),
    ] {
        for &addr in addrs {
            let sockets = bind_all(addr, workers)?;
            if kind == ListenerKind::Tls {
                for socket in &sockets {
                    // Best effort: without the sysctl's server bit the
                    // kernel ignores it, and check-tuning reports that.
                    let _ = enable_fastopen(socket);
                }
            }
            actual.push(sockets[0].local_addr().map_err(|e| StartError::Bind(addr, e))?);
            for (w, socket) in sockets.into_iter().enumerate() {
                per_worker[w].push(Listener { socket, kind });
            }
        }
    }
    // Worker i goes to the i-th CPU the process may use, not to CPU i:
    // under `taskset -c 2,3` or a cpuset, CPU 0 may not be ours at all.
    let cpus = if opts.pin_workers { allowed_cpus() } else { Vec::new() };
    let mut running = Running {
        tls_addrs,
        h2c_addrs,
        redirect_addrs,
        backend: "",
        sqpoll: String::new(),
        shared: shared.clone(),
        wakers: Vec::new(),
        threads: Vec::new(),
    };
    let mut attach_to: Option<i32> = None;
    for (index, listeners) in per_worker.into_iter().enumerate() {
        let waker = Arc::new(Waker::new().map_err(StartError::Backend)?);
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<Ready>>();
        let thread_waker = waker.clone();
        let thread_shared = shared.clone();
        let opts = opts.clone();
        let cpu = cpus.get(index % cpus.len().max(1)).copied();
        let thread = std::thread::Builder::new()
            .name(format!("h2ring-worker-{index}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    pin_to_cpu(cpu);
                }
                worker_main(index, listeners, &thread_waker, &opts, attach_to, &thread_shared, ready_tx)
            })
            .map_err(StartError::Thread)?;
        running.wakers.push(waker);
        running.threads.push(thread);
        match ready_rx.recv() {
            Ok(Ok(ready)) => {
                if index == 0 {
                    attach_to = ready.ring_fd;
                    running.sqpoll = ready.sqpoll;
                    running.backend = ready.backend;
                }
            }
            Ok(Err(e)) => {
                running.stop_and_join();
                return Err(StartError::Backend(e));
            }
            Err(_) => {
                running.stop_and_join();
                return Err(StartError::Backend(io::Error::other("a worker exited during start-up")));
            }
        }
    }
    Ok(running)
}

#[cfg(not(feature = "epoll"))]
fn worker_main(
    index: usize,
    listeners: Vec<Listener>,
    waker: &Waker,
    opts: &RuntimeOptions,
    attach_to: Option<i32>,
    shared: &WorkerShared,
    ready: mpsc::Sender<io::Result<Ready>>,
) -> io::Result<()> {
    use super::Backend;
    use super::uring::{UringBackend, UringOptions};
    let ring_opts =
        UringOptions { sqpoll: opts.sqpoll, sqpoll_idle_ms: opts.sqpoll_idle_ms, ..UringOptions::default() };
    let mut backend = match UringBackend::new(listeners, waker, &ring_opts, attach_to) {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
            return Err(e);
        }
    };
    let sqpoll = match (backend.sqpoll_active(), backend.fallback_reason()) {
        (true, _) => "SQPOLL on".to_string(),
        (false, Some(why)) => format!("SQPOLL off (fell back: {why})"),
        (false, None) => "SQPOLL off".to_string(),
    };
    let _ = ready.send(Ok(Ready { sqpoll, ring_fd: Some(backend.ring_fd()), backend: backend.name() }));
    worker::run(&mut backend, shared, index)
}

#[cfg(feature = "epoll")]
fn worker_main(
    index: usize,
    listeners: Vec<Listener>,
    waker: &Waker,
    _opts: &RuntimeOptions,
    _attach_to: Option<i32>,
    shared: &WorkerShared,
    ready: mpsc::Sender<io::Result<Ready>>,
) -> io::Result<()> {
    use super::Backend;
    use super::epoll::EpollBackend;
    let mut backend = match EpollBackend::new(listeners, waker) {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
            return Err(e);
        }
    };
    let _ = ready.send(Ok(Ready { sqpoll: "no SQPOLL (epoll)".to_string(), ring_fd: None, backend: backend.name() }));
    worker::run(&mut backend, shared, index)
}

impl Running {
    /// Asks every worker to shut down gracefully.
    pub fn stop(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        for w in &self.wakers {
            w.wake();
        }
    }

    /// Whether some worker has exited (it only does on shutdown or error).
    pub fn any_worker_exited(&self) -> bool {
        self.threads.iter().any(JoinHandle::is_finished)
    }

    /// Waits for every worker; the first error, if any.
    pub fn join(mut self) -> io::Result<()> {
        let mut result = Ok(());
        for t in self.threads.drain(..) {
            let r = t.join().unwrap_or_else(|_| Err(io::Error::other("a worker panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    fn stop_and_join(&mut self) {
        self.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
