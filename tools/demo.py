"""placeholder"""
print("demo")
