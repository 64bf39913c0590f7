//! What every widget on a page shares: one GPU device (so one pipeline cache and one queue) and the turn
//! to race on it, so two races on one page run one after the other instead of splitting the GPU's time
//! (each lane's ms/token stays its own).

use crate::probe::open_device;
use archrace_gpu::GpuContext;
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use futures::lock::{Mutex, MutexGuard};
use std::cell::RefCell;
use std::rc::Rc;

/// The page's device, or why there is none (in words for the reader).
pub type SharedDevice = Result<Rc<GpuContext>, String>;

thread_local! {
    /// The device every widget uses, opened by the first widget that asks.
    static DEVICE: RefCell<Option<Shared<LocalBoxFuture<'static, SharedDevice>>>> = const { RefCell::new(None) };
    /// Held by the race that is running; the others wait for it.
    static TURN: &'static Mutex<()> = Box::leak(Box::new(Mutex::new(())));
}

/// The page's one device: the first call opens it (one `requestDevice` for the whole page), every later
/// call gets the same one.
pub async fn shared_device() -> SharedDevice {
    let device = DEVICE.with_borrow_mut(|d| {
        d.get_or_insert_with(|| {
            async {
                open_device().await.map(Rc::new).map_err(|(reason, detail)| match detail {
                    Some(detail) => format!("{reason} ({detail})"),
                    None => reason,
                })
            }
            .boxed_local()
            .shared()
        })
        .clone()
    });
    device.await
}

/// Forgets a device that was lost, so the next widget to ask opens a new one.
pub fn forget_device() {
    DEVICE.with_borrow_mut(|d| *d = None);
}

/// The right to run on the page's device; the next race starts when this is dropped.
pub type Turn = MutexGuard<'static, ()>;

/// Waits for the other races on the page to finish, then holds the device until the turn is dropped.
pub async fn take_turn() -> Turn {
    TURN.with(|t| *t).lock().await
}
