"""German fiscal compliance: processData and QR, receipt content, DSFinV-K and DATEV exports."""
