// Migrations are embedded in the binary (`embed_migrations!`); rebuild when one is added or
// changed, which Cargo would not notice on its own (diesel_migrations' documented advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
