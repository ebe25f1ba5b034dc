package dev.consentgate

import org.junit.Test
import java.io.File
import java.lang.reflect.Modifier
import java.net.URLClassLoader
import kotlin.reflect.KCallable
import kotlin.reflect.KClass
import kotlin.reflect.KFunction
import kotlin.reflect.KType
import kotlin.reflect.KVisibility
import kotlin.reflect.full.declaredMemberExtensionFunctions
import kotlin.reflect.full.declaredMemberFunctions
import kotlin.reflect.full.declaredMembers
import kotlin.reflect.full.valueParameters
import kotlin.reflect.jvm.kotlinFunction
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * The public API an app sees, read by reflection from the compiled classes
 * (the Kotlin API and the Android adapters): Kotlin types only (no unsigned
 * type, nothing from the generated `dev.consentgate.ffi`), and every
 * `suspend` call with its `...Blocking` twin.
 */
class ApiShapeTest {
    private val classes = File(System.getProperty("consentgate.classes") ?: error("jvm-test.sh passes -Dconsentgate.classes"))

    /** The Android adapters need the stubs to load; they are on no runtime classpath but this one. */
    private val androidLoader = URLClassLoader(
        arrayOf(File(classes, "android").toURI().toURL(), File(classes, "stubs").toURI().toURL()),
        javaClass.classLoader,
    )

    private fun publicClasses(dir: File, loader: ClassLoader): List<Class<*>> = dir.walk()
        .filter { it.isFile && it.extension == "class" && it.name != "module-info.class" }
        .map { it.relativeTo(dir).path.removeSuffix(".class").replace(File.separatorChar, '.') }
        .filter { it.startsWith("dev.consentgate") }
        .map { Class.forName(it, false, loader) }
        .filter { Modifier.isPublic(it.modifiers) && !it.isSynthetic && !it.isAnonymousClass && !it.isLocalClass }
        // Kotlin classes and file facades; not the synthetic classes of lambdas and inlined code.
        .filter { it.getAnnotation(Metadata::class.java)?.kind in setOf(1, 2) }
        .toList()

    private val api: List<Class<*>> by lazy {
        publicClasses(File(classes, "main"), javaClass.classLoader) + publicClasses(File(classes, "android"), androidLoader)
    }

    /** True for a Kotlin class (not a file facade) that app code can name. */
    private fun KClass<*>.isPublicApi(): Boolean {
        var c: Class<*>? = java
        while (c != null) {
            val k = runCatching { c.kotlin.visibility }.getOrNull() ?: return false
            if (k != KVisibility.PUBLIC) return false
            c = c.enclosingClass
        }
        return true
    }

    private fun KCallable<*>.isPublicApi() = visibility == KVisibility.PUBLIC || visibility == KVisibility.PROTECTED

    /** Every type a public member or supertype of the API mentions, as `where: type`. */
    private fun mentionedTypes(): List<Pair<String, KType>> {
        val out = ArrayList<Pair<String, KType>>()
        fun callable(owner: String, m: KCallable<*>) {
            if (!m.isPublicApi()) return
            m.valueParameters.forEach { out += "$owner.${m.name}(${it.name})" to it.type }
            m.parameters.firstOrNull { it.kind == kotlin.reflect.KParameter.Kind.EXTENSION_RECEIVER }
                ?.let { out += "$owner.${m.name} receiver" to it.type }
            out += "$owner.${m.name}: return" to m.returnType
        }
        for (cls in api) {
            val facade = cls.getAnnotation(Metadata::class.java)?.kind == 2
            if (facade) {
                // Top-level functions (e.g. the playAdvertisingId extension).
                cls.declaredMethods.filter { Modifier.isPublic(it.modifiers) }
                    .mapNotNull { it.kotlinFunction }
                    .forEach { callable(cls.simpleName, it) }
                continue
            }
            val k = cls.kotlin
            if (!k.isPublicApi()) continue
            val owner = k.qualifiedName ?: cls.name
            k.supertypes.forEach { out += "$owner supertype" to it }
            k.constructors.forEach { callable(owner, it) }
            k.declaredMembers.forEach { callable(owner, it) }
            k.declaredMemberExtensionFunctions.forEach { callable(owner, it) }
        }
        return out
    }

    private fun offenders(type: KType, found: MutableList<String>) {
        val classifier = type.classifier as? KClass<*>
        val name = classifier?.qualifiedName ?: classifier?.java?.name
        if (name != null) {
            if (name.startsWith("dev.consentgate.ffi.")) found += name
            if (name in UNSIGNED) found += name
        }
        type.arguments.forEach { arg -> arg.type?.let { offenders(it, found) } }
    }

    @Test
    fun the_public_api_has_no_unsigned_type_and_no_generated_type() {
        assertTrue(api.any { it == ConsentGate::class.java }, "the API classes were not found under $classes")
        assertTrue(api.any { it.name == "dev.consentgate.android.ConsentGateAndroid" }, "the Android adapters were not scanned")
        val leaks = mentionedTypes().mapNotNull { (where, type) ->
            val found = ArrayList<String>()
            offenders(type, found)
            if (found.isEmpty()) null else "$where mentions ${found.joinToString()}"
        }
        assertEquals(emptyList(), leaks.distinct())
    }

    @Test
    fun every_suspend_call_has_a_blocking_twin_and_every_blocking_call_a_suspend_one() {
        val functions = ConsentGate::class.declaredMemberFunctions.filter { it.isPublicApi() }
        val suspend = functions.filter { it.isSuspend }
        val blocking = functions.filter { it.name.endsWith("Blocking") }
        assertTrue(suspend.size >= 20, "only ${suspend.size} suspend functions found")
        fun signature(f: KFunction<*>) = f.valueParameters.map { it.type } to f.returnType
        val missing = suspend.filter { s ->
            blocking.none { b -> b.name == s.name + "Blocking" && !b.isSuspend && signature(b) == signature(s) }
        }.map { it.name }
        val orphans = blocking.filter { b ->
            suspend.none { s -> b.name == s.name + "Blocking" && signature(b) == signature(s) }
        }.map { it.name }
        assertEquals(emptyList(), missing, "suspend functions without a Blocking twin of the same signature")
        assertEquals(emptyList(), orphans, "Blocking functions without a suspend twin of the same signature")
    }

    private companion object {
        val UNSIGNED = setOf(
            "kotlin.UInt", "kotlin.ULong", "kotlin.UShort", "kotlin.UByte",
            "kotlin.UIntArray", "kotlin.ULongArray", "kotlin.UShortArray", "kotlin.UByteArray",
        )
    }
}
