//! `sqlx::migrate!` embeds the migration files when this crate compiles. Without this, adding a
//! migration (a new file, no Rust change) left a build that never ran it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
