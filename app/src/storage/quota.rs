//! How much this origin stores, and asking the browser to keep it.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{StorageEstimate, StorageManager, Window, WorkerGlobalScope};

use super::StorageError;

/// This origin's storage use, as the browser estimates it (it may round or
/// pad the numbers). Either is `None` when the browser does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageUse {
    pub usage_bytes: Option<u64>,
    pub quota_bytes: Option<u64>,
}

/// `navigator.storage.estimate()`, for the storage line in the app.
pub async fn storage_estimate() -> Result<StorageUse, StorageError> {
    let estimate: StorageEstimate = JsFuture::from(storage_manager()?.estimate()?).await?.unchecked_into();
    // `as` saturates: byte counts are whole and far below u64::MAX.
    let bytes = |value: f64| value as u64;
    Ok(StorageUse { usage_bytes: estimate.get_usage().map(bytes), quota_bytes: estimate.get_quota().map(bytes) })
}

/// `navigator.storage.persist()`: asks the browser not to evict this origin's
/// data under storage pressure. `true` if granted; browsers decide by their
/// own rules (installed app, bookmarks, engagement) and may not ask the user.
pub async fn request_persistence() -> Result<bool, StorageError> {
    let granted = JsFuture::from(storage_manager()?.persist()?).await?;
    Ok(granted.as_bool() == Some(true))
}

/// The storage manager of the page or worker this code runs in.
fn storage_manager() -> Result<StorageManager, StorageError> {
    let global = js_sys::global();
    let manager = if let Some(window) = global.dyn_ref::<Window>() {
        window.navigator().storage()
    } else if let Some(worker) = global.dyn_ref::<WorkerGlobalScope>() {
        worker.navigator().storage()
    } else {
        return Err(StorageError::Unavailable { reason: "neither a page nor a worker".to_owned() });
    };
    // Browsers leave `navigator.storage` out of pages not served over HTTPS.
    if JsValue::from(&manager).is_undefined() {
        return Err(StorageError::Unavailable { reason: "the page is not served over HTTPS".to_owned() });
    }
    Ok(manager)
}
