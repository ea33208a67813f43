//! The Openprod app: mounts the Leptos UI on the page.

mod device;
mod service_worker;
mod shell;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(shell::Shell);
}
