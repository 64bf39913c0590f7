//! The playground's entry point: install the panic hook, mount the app. Nothing else.

fn main() {
    archrace_web::panic::install();
    leptos::mount::mount_to_body(archrace_web::App);
}
