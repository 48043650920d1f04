"""The USB list's sources: nut-scanner's output (in the format NUT 2.8 prints for a USB UPS;
no UPS is attached here), NUT's own udev rules as installed on this machine, and sysfs."""

from __future__ import annotations

from rockd.ups import devices

SCANNED = '''[nutdev1]
\tdriver = "usbhid-ups"
\tport = "auto"
\tvendorid = "051D"
\tproductid = "0002"
\tproduct = "Back-UPS ES 700G FW:871.O4 .I USB FW:O4"
\tserial = "5B1234T12345"
\tvendor = "American Power Conversion"
\tbus = "001"
'''


def test_nut_scanner_output_is_read():
    assert devices.parse_scanner(SCANNED) == [{
        "driver": "usbhid-ups", "port": "auto", "vendorid": "051D", "productid": "0002",
        "product": "Back-UPS ES 700G FW:871.O4 .I USB FW:O4", "serial": "5B1234T12345",
        "vendor": "American Power Conversion", "bus": "001"}]
    assert devices.parse_scanner("") == []


def test_nut_udev_rules_name_the_upses_and_their_drivers():
    known = devices.known_upses()
    assert known[("051d", "0002")] == "usbhid-ups"  # APC
    assert known[("0463", "ffff")] == "usbhid-ups"  # Eaton / MGE
    assert known[("03f0", "1f01")] == "bcmxcp_usb"  # HP T500
    assert len(known) > 100


def test_usb_devices_are_read_from_sysfs_and_upses_named(tmp_path):
    """A sysfs USB tree as the kernel lays it out: an APC UPS, a keyboard, an interface."""
    def device(name: str, **attrs: str) -> None:
        (tmp_path / name).mkdir()
        for key, value in attrs.items():
            (tmp_path / name / key).write_text(value + "\n")
    device("1-1", idVendor="051D", idProduct="0002", manufacturer="American Power Conversion",
           product="Back-UPS ES 700", serial="4B1234", busnum="1")
    device("1-2", idVendor="046d", idProduct="c31c", product="Keyboard", busnum="1")
    device("1-1:1.0", bInterfaceClass="03")  # an interface, not a device
    found = {d["id"]: d for d in devices.usb_devices(tmp_path)}
    assert set(found) == {"usb-1-1", "usb-1-2"}
    ups = found["usb-1-1"]
    assert (ups["vendorid"], ups["productid"], ups["driver"], ups["ups"], ups["serial"],
            ups["bus"]) == ("051d", "0002", "usbhid-ups", True, "4B1234", "1")
    assert (found["usb-1-2"]["ups"], found["usb-1-2"]["driver"]) == (False, None)
    assert devices.usb_devices(tmp_path / "missing") == []
