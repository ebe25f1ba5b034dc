//! The UniFFI binding generator, built from the same uniffi version as the core
//! so generated Kotlin/Swift always match the scaffolding in the library.

fn main() {
    uniffi::uniffi_bindgen_main()
}
