"""Teleconsultations: who is in which consultation, in what role, admitted or waiting, and the
record of the session. Media and signalling live elsewhere and ask `ConsultationService`
(server/consultations/service.py) who may take part."""
