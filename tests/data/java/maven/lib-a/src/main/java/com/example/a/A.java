package com.example.a; public final class A { public static String name() { return "a"; } }
