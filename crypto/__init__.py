"""End-to-end encryption protocol (see the E2EE issue); empty until then."""
