def main():
    from tester.firmware import protocol
    print(protocol.PROTOCOL_VERSION)
