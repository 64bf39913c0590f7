//! The browser's `subgroups` feature, which wgpu 30's WebGPU backend neither asks for nor reports: its
//! table of feature names has no entry for it (gfx-rs/wgpu#10146), so `GPUAdapter.requestDevice` never
//! sees it and `Device::features` never shows it. Without it the browser's compiler (Tint) refuses every
//! subgroup twin, and pages would run the workgroup-memory twins on GPUs that have subgroups.
//!
//! wgpu passes WGSL to the browser as it is, so only the device request needs help. While wgpu asks for
//! the device, `GPUAdapter.prototype.requestDevice` is wrapped in a `Proxy` that adds `"subgroups"` to
//! the required features when that adapter lists it; the original is put back as soon as the request is
//! made. wgpu makes the request synchronously inside `Adapter::request_device` (before its future is
//! polled), and the page's JavaScript runs on one thread, so nothing else ever sees the wrapper. Whether
//! the device got the feature is read from the `GPUDevice` itself ([`device_has_subgroups`]).
//!
//! Natively both functions are no-ops: wgpu maps the feature itself there.
//!
//! wgpu 30 does not report either whether the browser's adapter is its software fallback (SwiftShader in
//! headless Chromium): [`device_is_fallback`] reads `GPUDevice.adapterInfo.isFallbackAdapter`.

/// Runs `request`, which must call `GPUAdapter.requestDevice` before it returns (as
/// `wgpu::Adapter::request_device` does), with `"subgroups"` among the required features whenever the
/// adapter offers them. Natively, just runs it.
pub(crate) fn with_subgroups_required<T>(request: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "wasm32")]
    {
        web::with_subgroups_required(request)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        request()
    }
}

/// Whether the browser's `GPUDevice` behind `device` has `subgroups` enabled (false natively, where
/// `wgpu::Device::features` says it).
pub(crate) fn device_has_subgroups(device: &wgpu::Device) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        device.as_webgpu().is_some_and(|d| web::has_feature(d.as_ref(), "subgroups"))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = device;
        false
    }
}

/// Whether the browser's `GPUDevice` behind `device` comes from a fallback adapter
/// (`adapterInfo.isFallbackAdapter`: a software implementation such as SwiftShader); false natively,
/// where `wgpu::AdapterInfo::device_type` says it, and where the browser does not tell.
pub(crate) fn device_is_fallback(device: &wgpu::Device) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        use js_sys::Reflect;
        device.as_webgpu().is_some_and(|d| {
            Reflect::get(d.as_ref(), &"adapterInfo".into())
                .and_then(|info| Reflect::get(&info, &"isFallbackAdapter".into()))
                .is_ok_and(|v| v.as_bool() == Some(true))
        })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = device;
        false
    }
}

#[cfg(target_arch = "wasm32")]
mod web {
    use js_sys::{Array, Function, Object, Proxy, Reflect};
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};

    /// The `Proxy` trap's signature: `apply(target, thisArg, args)`.
    type ApplyTrap = dyn FnMut(JsValue, JsValue, Array) -> Result<JsValue, JsValue>;

    pub(super) fn with_subgroups_required<T>(request: impl FnOnce() -> T) -> T {
        let Some((prototype, original)) = request_device_method() else { return request() };
        let key = JsValue::from_str("requestDevice");
        let trap = Closure::<ApplyTrap>::new(|target: JsValue, adapter: JsValue, args: Array| {
            add_subgroups(&adapter, &args.get(0));
            Reflect::apply::<fn() -> JsValue>(target.unchecked_ref(), &adapter, &args)
        });
        let handler = Object::new();
        if Reflect::set(&handler, &"apply".into(), trap.as_ref()) != Ok(true) {
            return request();
        }
        let wrapped = Proxy::new(&original, &handler);
        if Reflect::set(&prototype, &key, &wrapped) != Ok(true) {
            return request();
        }
        let out = request();
        // Put back the very function that was there; `trap` lives until after this.
        let _ = Reflect::set(&prototype, &key, &original);
        drop(trap);
        out
    }

    /// `GPUAdapter.prototype` and its `requestDevice`, where the browser has them.
    fn request_device_method() -> Option<(JsValue, JsValue)> {
        let class = Reflect::get(&js_sys::global(), &"GPUAdapter".into()).ok().filter(JsValue::is_function)?;
        let prototype = Reflect::get(&class, &"prototype".into()).ok().filter(JsValue::is_object)?;
        let method = Reflect::get(&prototype, &"requestDevice".into()).ok().filter(JsValue::is_function)?;
        Some((prototype, method))
    }

    /// Adds `"subgroups"` to `descriptor.requiredFeatures` when `adapter.features` has it.
    fn add_subgroups(adapter: &JsValue, descriptor: &JsValue) {
        if !descriptor.is_object() || !has_feature(adapter, "subgroups") {
            return;
        }
        let key = JsValue::from_str("requiredFeatures");
        let listed = Reflect::get(descriptor, &key).unwrap_or(JsValue::UNDEFINED);
        let features: Array = if Array::is_array(&listed) { listed.unchecked_into() } else { Array::new() };
        let subgroups = JsValue::from_str("subgroups");
        if !features.includes(&subgroups, 0) {
            features.push(&subgroups);
        }
        let _ = Reflect::set(descriptor, &key, &features);
    }

    /// `object.features.has(name)` for a `GPUAdapter` or `GPUDevice`; false when anything is missing.
    pub(super) fn has_feature(object: &JsValue, name: &str) -> bool {
        let Ok(features) = Reflect::get(object, &"features".into()) else { return false };
        let Ok(has) = Reflect::get(&features, &"has".into()) else { return false };
        has.dyn_ref::<Function>()
            .and_then(|has| has.call1(&features, &name.into()).ok())
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }
}
