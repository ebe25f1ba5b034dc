// Device fields for `ConsentGate.collectDeviceInfo(using:)`: a provider that
// holds the fields read once (UIDevice and UIScreen are main-actor only, while
// the core asks from a background thread) and reads the locale and time zone
// when asked (the user may change them). The core decides which fields are
// asked for; this only answers. The UIKit reading compiles only with UIKit;
// the formatting is plain Swift, tested on Linux.
import Foundation
#if canImport(UIKit)
import UIKit
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Device fields for the gate: the fixed ones given at creation, the locale
/// and time zone read at each call. On iOS make it with `current(screen:)`:
///
/// ```swift
/// let device = SystemDeviceInfoProvider.current(screen: windowScene.screen)  // on the main actor
/// try await gate.collectDeviceInfo(using: device)
/// ```
///
/// The carrier is never known: iOS 16 and later answer a placeholder for it.
public struct SystemDeviceInfoProvider: DeviceInfoProvider, Sendable, Equatable {
    /// Operating system name, e.g. `iOS`.
    public var osName: String?
    /// Operating system version, e.g. `17.4`.
    public var osVersionString: String?
    /// Hardware model identifier, e.g. `iPhone15,2`.
    public var modelIdentifier: String?
    /// `Apple` on Apple devices.
    public var manufacturerName: String?
    /// The app's version (`CFBundleShortVersionString`).
    public var appVersionString: String?
    /// Screen size in pixels, `WIDTHxHEIGHT`.
    public var screenSize: String?
    /// The locale to report; nil: `Locale.current` at each call.
    public var fixedLocale: Locale?
    /// The time zone to report; nil: `TimeZone.current` at each call.
    public var fixedTimeZone: TimeZone?

    /// A provider answering these fields (nil: not known).
    public init(
        osName: String? = nil, osVersionString: String? = nil, modelIdentifier: String? = nil,
        manufacturerName: String? = nil, appVersionString: String? = nil, screenSize: String? = nil,
        fixedLocale: Locale? = nil, fixedTimeZone: TimeZone? = nil
    ) {
        self.osName = osName
        self.osVersionString = osVersionString
        self.modelIdentifier = modelIdentifier
        self.manufacturerName = manufacturerName
        self.appVersionString = appVersionString
        self.screenSize = screenSize
        self.fixedLocale = fixedLocale
        self.fixedTimeZone = fixedTimeZone
    }

    /// The operating system name.
    public func os() -> String? { osName }
    /// The operating system version.
    public func osVersion() -> String? { osVersionString }
    /// The hardware model identifier.
    public func model() -> String? { modelIdentifier }
    /// The manufacturer.
    public func manufacturer() -> String? { manufacturerName }
    /// The locale as a BCP 47 tag, e.g. `de-DE`.
    public func locale() -> String? { Self.languageTag(fixedLocale ?? Locale.current) }
    /// The time zone id, e.g. `Europe/Berlin`.
    public func timezone() -> String? { (fixedTimeZone ?? TimeZone.current).identifier }
    /// Never known (see the type's description).
    public func carrier() -> String? { nil }
    /// The app's version.
    public func appVersion() -> String? { appVersionString }
    /// The screen size in pixels.
    public func screen() -> String? { screenSize }

    /// `locale` as a BCP 47 language tag (`de-DE`, `zh-Hant-TW`), not
    /// Foundation's `de_DE` form; nil for the empty root locale.
    public static func languageTag(_ locale: Locale) -> String? {
        let tag: String
        if #available(iOS 16, macOS 13, tvOS 16, watchOS 9, *) {
            tag = locale.identifier(.bcp47)
        } else {
            tag = locale.identifier.split(separator: "@").first.map(String.init)?
                .replacingOccurrences(of: "_", with: "-") ?? ""
        }
        return tag.isEmpty || tag == "und" ? nil : tag
    }

    /// `WIDTHxHEIGHT` of a screen in pixels, portrait (the shorter side
    /// first, as the orientation changes nothing about the device); nil for
    /// a size that is not positive.
    public static func screenSize(width: Double, height: Double) -> String? {
        guard width > 0, height > 0, width.isFinite, height.isFinite else { return nil }
        let (short, long) = (Int(min(width, height).rounded()), Int(max(width, height).rounded()))
        return "\(short)x\(long)"
    }

    /// The hardware model identifier (`iPhone15,2`): `uname`'s machine, or
    /// on the simulator the model it simulates.
    public static func hardwareModelIdentifier(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let simulated = environment["SIMULATOR_MODEL_IDENTIFIER"], !simulated.isEmpty {
            return simulated
        }
        var info = utsname()
        guard uname(&info) == 0 else { return nil }
        let machine = withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return machine.isEmpty ? nil : machine
    }

    /// The bundle's `CFBundleShortVersionString`.
    public static func appVersion(of bundle: Bundle) -> String? {
        bundle.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String
    }
}

#if canImport(UIKit)
extension SystemDeviceInfoProvider {
    /// The fields of this device from `UIDevice`, the model identifier,
    /// `screen`'s native size (nil: not known) and the main bundle's
    /// version. Main actor: UIKit is read here, never on the core's thread.
    @MainActor
    public static func current(screen: UIScreen? = nil, bundle: Bundle = .main) -> SystemDeviceInfoProvider {
        let device = UIDevice.current
        let pixels = screen?.nativeBounds.size
        return SystemDeviceInfoProvider(
            osName: device.systemName,
            osVersionString: device.systemVersion,
            modelIdentifier: hardwareModelIdentifier(),
            manufacturerName: "Apple",
            appVersionString: appVersion(of: bundle),
            screenSize: pixels.flatMap { screenSize(width: Double($0.width), height: Double($0.height)) })
    }
}
#endif
