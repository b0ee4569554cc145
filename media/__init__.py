"""Teleconsultation media (aiortc); empty until the media issue."""
