"""Tests for the abuse findings of issue 10's outside security test (items 6-11)."""
