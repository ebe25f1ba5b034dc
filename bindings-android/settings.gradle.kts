// Standalone build of the consentgate Android library (an AAR).
//
// An app can instead include this directory as a module of its own build:
//   include(":consentgate")
//   project(":consentgate").projectDir = file("path/to/consentgate/bindings-android")
// and then `implementation(project(":consentgate"))`; the app's build then
// supplies the two plugins below.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
    plugins {
        id("com.android.library") version "8.7.3"
        id("org.jetbrains.kotlin.android") version "2.1.0"
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "consentgate-android"
