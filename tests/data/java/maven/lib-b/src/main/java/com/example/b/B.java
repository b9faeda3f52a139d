package com.example.b; public final class B { public static String name() { return "b"; } }
