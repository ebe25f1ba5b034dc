// The consentgate Android library: the Kotlin API in src/main/kotlin, the
// UniFFI bindings generated at build time from the Rust core, and the core
// itself cross-compiled with cargo-ndk. Needs Rust (with the Android targets),
// cargo-ndk and the NDK; see README.md.
//
// The JVM tests in src/test run with ./jvm-test.sh (plain JVM, host-built
// core), not as Gradle unit tests.

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

/** The Cargo workspace this module lives in. */
val workspaceDir: File = projectDir.parentFile
val cargoTargetDir: File = System.getenv("CARGO_TARGET_DIR")?.let(::File) ?: workspaceDir.resolve("target")
val hostLibrary: File = cargoTargetDir.resolve(
    when {
        System.getProperty("os.name").startsWith("Mac") -> "debug/libconsentgate.dylib"
        System.getProperty("os.name").startsWith("Windows") -> "debug/consentgate.dll"
        else -> "debug/libconsentgate.so"
    },
)
val generatedKotlin: File = layout.buildDirectory.dir("generated/uniffi/kotlin").get().asFile
val rustJniLibs: File = layout.buildDirectory.dir("rustJniLibs").get().asFile

android {
    namespace = "dev.consentgate"
    compileSdk = 35

    defaultConfig {
        minSdk = 21
        consumerProguardFiles("consumer-rules.pro")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDir(generatedKotlin)
            jniLibs.srcDir(rustJniLibs)
        }
        getByName("test") {
            // Run by jvm-test.sh against the host library instead.
            java.setSrcDirs(emptyList<String>())
            kotlin.setSrcDirs(emptyList<String>())
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
}

dependencies {
    // The generated bindings call the core through JNA; the AAR carries its
    // Android native parts. Same version as the JVM tests use.
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    implementation("androidx.work:work-runtime-ktx:2.10.0")
    // ProcessLifecycleOwner, for BackgroundFlush.
    implementation("androidx.lifecycle:lifecycle-process:2.8.7")
    implementation("com.google.android.gms:play-services-ads-identifier:18.2.0")
    // Used only by the adapter of each, when the app depends on it itself:
    // FirebaseConsentMode, PlayInstallReferrerProvider, ConsentWebView.
    compileOnly("com.google.firebase:firebase-analytics:22.1.2")
    compileOnly("com.android.installreferrer:installreferrer:2.2")
    compileOnly("androidx.webkit:webkit:1.12.1")
}

// Host build: the debug cdylib (library mode reads UniFFI's metadata from it,
// which stripping would remove) and the workspace's own uniffi-bindgen.
val cargoBuildHost by tasks.registering(Exec::class) {
    description = "Builds the host consentgate cdylib and uniffi-bindgen."
    workingDir = workspaceDir
    commandLine("cargo", "build", "-p", "consentgate", "--features", "bindgen")
}

// Kotlin bindings (package dev.consentgate.ffi), never committed: generated
// here on every build from the library itself, so they cannot go stale.
val generateUniffiKotlin by tasks.registering(Exec::class) {
    description = "Generates the Kotlin bindings into build/generated/uniffi/kotlin."
    dependsOn(cargoBuildHost)
    workingDir = workspaceDir
    outputs.dir(generatedKotlin)
    doFirst { generatedKotlin.deleteRecursively() }
    commandLine(
        cargoTargetDir.resolve("debug/uniffi-bindgen").path, "generate", "--no-format",
        "--language", "kotlin", "--out-dir", generatedKotlin.path,
        hostLibrary.path,
    )
}

// The core for devices: release, three ABIs, ELF segments aligned for 16 KB
// pages (required for apps targeting Android 15+ on 16 KB devices).
val cargoNdkBuild by tasks.registering(Exec::class) {
    description = "Cross-compiles the core into build/rustJniLibs with cargo-ndk."
    workingDir = workspaceDir
    outputs.dir(rustJniLibs)
    environment("RUSTFLAGS", "-C link-arg=-Wl,-z,max-page-size=16384")
    commandLine(
        "cargo", "ndk",
        "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "--platform", "21",
        "-o", rustJniLibs.path,
        // `rustc --crate-type cdylib`: the library alone, not together with
        // the rlib and staticlib of Cargo.toml's crate types, is ~260 KB
        // smaller (ARCHITECTURE.md, "Size").
        "rustc", "-p", "consentgate", "--lib", "--release", "--crate-type", "cdylib",
    )
}

tasks.named("preBuild") {
    dependsOn(generateUniffiKotlin, cargoNdkBuild)
}
